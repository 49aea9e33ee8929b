"""Group commit: store calls run in batches on the event loop, commits run in a thread.

The gateway submits store calls with a callback. Once per event-loop iteration the worker
opens a transaction, runs every call submitted since the last batch, and hands the COMMIT to
a single background thread. SQLite releases the GIL while it fsyncs, so the loop keeps
reading and decoding frames meanwhile. Calls submitted during a commit form the next batch,
so the batch size grows with the load and one fsync covers many sends. When the commit
returns, the callbacks run on the loop in submission order. A store without durable commits
(the memory store) commits inline.

Ordering invariant: callbacks run in the order the calls were submitted, which is the order
the store applied them. The gateway relies on it to tell queued envelopes that a drain read
will return from those it must push live.

Failure: if the commit fails, every call of the batch gets the error, so nothing that was not
committed is reported as stored.

Reads: a read-only call submitted with `submit_read` runs at the start of its batch, before
any write of that batch, so it returns committed state only. Its callback runs as soon as the
batch's writes are handed to the commit thread, not after the fsync. That keeps the ordering
invariant: every write whose effect the read missed has a callback that runs later. A
draining device's page reads wait for one fsync less this way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from cipherpost.exceptions import CipherpostError
from cipherpost.storage.interfaces import GatewayStore

log = logging.getLogger("cipherpost.gateway.storage")

Callback = Callable[[Any, BaseException | None], None]
_Call = tuple[Callable[..., Any], tuple[Any, ...], Callback]
_Result = tuple[Callback, Any, BaseException | None]


class StorageWorker:
    def __init__(self, store: GatewayStore, loop: asyncio.AbstractEventLoop) -> None:
        self._store = store
        self._loop = loop
        self._pending: list[_Call] = []
        self._pending_reads: list[_Call] = []
        self._scheduled = False
        self._committing = False
        self._closing = False
        self._outstanding = 0  # submitted calls whose callback has not run
        self._idle = asyncio.Event()
        self._idle.set()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cipherpost-commit")
        self.batches = 0
        self.calls = 0

    def submit(
        self, function: Callable[..., Any], args: tuple[Any, ...], callback: Callback
    ) -> None:
        """Queue `function(*args)` for the next batch; `callback(result, error)` runs after
        the batch is committed."""
        if self._closing:
            raise RuntimeError("storage worker is closed")
        self._pending.append((function, args, callback))
        self._outstanding += 1
        self._idle.clear()
        self._schedule()

    def submit_read(
        self, function: Callable[..., Any], args: tuple[Any, ...], callback: Callback
    ) -> None:
        """Queue a call that only reads; see the module documentation for when its callback
        runs."""
        if self._closing:
            raise RuntimeError("storage worker is closed")
        self._pending_reads.append((function, args, callback))
        self._outstanding += 1
        self._idle.clear()
        self._schedule()

    def _schedule(self) -> None:
        if (
            not self._scheduled
            and not self._committing
            and (self._pending or self._pending_reads)
        ):
            self._scheduled = True
            self._loop.call_soon(self._run_batch)

    async def wait_idle(self) -> None:
        """Wait until every submitted call has run and its callback has been called."""
        await self._idle.wait()

    async def close(self) -> None:
        await self.wait_idle()
        self._closing = True
        self._thread.shutdown(wait=True)

    def _run_batch(self) -> None:
        self._scheduled = False
        reads, self._pending_reads = self._pending_reads, []
        batch, self._pending = self._pending, []
        store = self._store
        try:
            store.begin()
        except Exception as error:  # noqa: BLE001 - reported to every caller
            log.error("opening a storage transaction failed: %s", error)
            self._finish([(callback, None, error) for _, _, callback in reads + batch])
            return

        # Reads first, so that they see only committed state (see the module documentation).
        read_results = self._run_calls(reads)
        results = self._run_calls(batch)
        self.batches += 1
        self.calls += len(reads) + len(batch)

        if not store.durable:
            self._finish(read_results)
            self._commit_inline(results)
            return
        # Mark the commit first: a read callback that submits another call must not start a
        # batch on the connection while the commit thread uses it.
        self._committing = True
        future = self._thread.submit(store.commit)
        future.add_done_callback(
            lambda done: self._loop.call_soon_threadsafe(self._committed, done, results)
        )
        self._finish(read_results)

    @staticmethod
    def _run_calls(calls: list[_Call]) -> list[_Result]:
        results: list[_Result] = []
        for function, args, callback in calls:
            try:
                results.append((callback, function(*args), None))
            except CipherpostError as error:
                results.append((callback, None, error))
            except Exception as error:
                log.exception("storage call %s failed", getattr(function, "__name__", "?"))
                results.append((callback, None, error))
        return results

    def _commit_inline(self, results: list[_Result]) -> None:
        try:
            self._store.commit()
        except Exception as error:  # noqa: BLE001 - nothing of the batch was stored
            self._fail(results, error)
            return
        self._finish(results)

    def _committed(self, done: Future[None], results: list[_Result]) -> None:
        self._committing = False
        error = done.exception()
        if error is not None:
            self._fail(results, error)
        else:
            self._finish(results)
        self._schedule()

    def _fail(self, results: list[_Result], error: BaseException) -> None:
        log.error("storage commit of %d calls failed: %s", len(results), error)
        try:
            self._store.rollback()
        except Exception as rollback_error:  # noqa: BLE001 - the commit error is what matters
            log.error("rollback after the failed commit failed too: %s", rollback_error)
        self._finish([(callback, None, error) for callback, _, _ in results])

    def _finish(self, results: list[_Result]) -> None:
        for callback, result, error in results:
            try:
                callback(result, error)
            except Exception:
                log.exception("storage callback failed")
        self._outstanding -= len(results)
        if not self._outstanding:
            self._idle.set()
