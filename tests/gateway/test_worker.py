"""Ordering of the group-commit storage worker, with a store whose commit the test releases."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from cipherpost.gateway.worker import StorageWorker


class GatedStore:
    """A durable store whose commits wait until the test sets `release`.

    `committed` holds the committed writes and `open_writes` those of the open transaction, so
    a read can tell committed state from uncommitted state.
    """

    durable = True

    def __init__(self) -> None:
        self.committed: list[str] = []
        self.open_writes: list[str] = []
        self.release = threading.Event()
        self.commits = 0

    def begin(self) -> None:
        self.open_writes = []

    def commit(self) -> None:
        self.release.wait(10)
        self.committed.extend(self.open_writes)
        self.open_writes = []
        self.commits += 1

    def rollback(self) -> None:
        self.open_writes = []

    def write(self, value: str) -> str:
        self.open_writes.append(value)
        return value

    def read(self) -> list[str]:
        return self.committed + self.open_writes


async def wait_until(condition: Any) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached within 5 s")


async def test_read_returns_before_its_batch_commits() -> None:
    store = GatedStore()
    worker = StorageWorker(store, asyncio.get_running_loop())  # type: ignore[arg-type]
    events: list[tuple[str, Any]] = []

    def record(name: str) -> Any:
        return lambda result, error: events.append((name, error or result))

    worker.submit(store.write, ("a",), record("write a"))
    await asyncio.sleep(0)  # batch 1 runs; its commit waits for the test
    worker.submit(store.write, ("b",), record("write b"))
    worker.submit_read(store.read, (), record("read"))
    await asyncio.sleep(0.05)
    assert events == []  # batch 2 cannot start while batch 1 commits

    store.release.set()
    await wait_until(lambda: len(events) == 3)
    await worker.wait_idle()
    await worker.close()

    assert events[0] == ("write a", "a")
    # The read ran before "b" was written in its own batch, so it saw committed state only,
    # and its callback came before the callback of the write it did not see.
    assert events[1] == ("read", ["a"])
    assert events[2] == ("write b", "b")
    assert store.committed == ["a", "b"]


async def test_read_callback_does_not_overlap_commit() -> None:
    store = GatedStore()
    worker = StorageWorker(store, asyncio.get_running_loop())  # type: ignore[arg-type]
    results: list[Any] = []

    def reread(result: Any, error: BaseException | None) -> None:
        results.append(result)
        if len(results) < 3:
            worker.submit_read(store.read, (), reread)

    worker.submit(store.write, ("a",), lambda result, error: None)
    worker.submit_read(store.read, (), reread)
    await asyncio.sleep(0.05)
    # The first read returned at once, and the read it submitted waits for the commit.
    assert results == [[]]
    assert store.commits == 0

    store.release.set()
    await wait_until(lambda: len(results) == 3)
    await worker.wait_idle()
    await worker.close()
    assert results == [[], ["a"], ["a"]]
