"""The storage thread: runs store calls in batches, one transaction each (group commit).

The event loop submits calls with a callback. The thread takes every call queued so far, runs
them inside one `store.transaction()` and commits once, then hands all results back to the
loop in submission order. Calls that arrive while a commit is in progress form the next batch,
so the batch size grows with the load and one fsync covers many sends.

Ordering invariant: callbacks run on the loop in the order the calls were submitted, which is
the order the store applied them. The gateway relies on it to tell queued envelopes that a
drain read will return from those it must push live.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from cipherpost.exceptions import CipherpostError
from cipherpost.storage.interfaces import GatewayStore

log = logging.getLogger("cipherpost.gateway.storage")

Callback = Callable[[Any, BaseException | None], None]
_Call = tuple[Callable[..., Any], tuple[Any, ...], Callback]


class StorageWorker:
    def __init__(self, store: GatewayStore, loop: asyncio.AbstractEventLoop) -> None:
        self._store = store
        self._loop = loop
        self._pending: list[_Call] = []
        self._condition = threading.Condition()
        self._closing = False
        self._outstanding = 0  # submitted calls whose callback has not run; loop thread only
        self._idle = asyncio.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._run, name="cipherpost-storage", daemon=True)
        self.batches = 0
        self.calls = 0

    def start(self) -> None:
        self._thread.start()

    def submit(
        self, function: Callable[..., Any], args: tuple[Any, ...], callback: Callback
    ) -> None:
        """Queue `function(*args)` for the next batch; `callback(result, error)` runs on the loop."""
        with self._condition:
            if self._closing:
                raise RuntimeError("storage worker is closed")
            self._pending.append((function, args, callback))
            self._condition.notify()
        self._outstanding += 1
        self._idle.clear()

    async def wait_idle(self) -> None:
        """Wait until every submitted call has run and its callback has been called."""
        await self._idle.wait()

    async def close(self) -> None:
        await self.wait_idle()
        with self._condition:
            self._closing = True
            self._condition.notify()
        await asyncio.to_thread(self._thread.join)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._pending and not self._closing:
                    self._condition.wait()
                if not self._pending:
                    return
                batch, self._pending = self._pending, []
            results = self._run_batch(batch)
            self._loop.call_soon_threadsafe(self._dispatch, results)

    def _run_batch(self, batch: list[_Call]) -> list[tuple[Callback, Any, BaseException | None]]:
        results: list[tuple[Callback, Any, BaseException | None]] = []
        try:
            with self._store.transaction():
                for function, args, callback in batch:
                    try:
                        results.append((callback, function(*args), None))
                    except CipherpostError as error:
                        results.append((callback, None, error))
                    except Exception as error:
                        log.exception("storage call %s failed", getattr(function, "__name__", "?"))
                        results.append((callback, None, error))
        except Exception as error:  # noqa: BLE001 - the commit failed: nothing was stored
            log.error("storage commit of %d calls failed: %s", len(batch), error)
            results = [(callback, None, error) for _, _, callback in batch]
        self.batches += 1
        self.calls += len(batch)
        return results

    def _dispatch(self, results: list[tuple[Callback, Any, BaseException | None]]) -> None:
        for callback, result, error in results:
            try:
                callback(result, error)
            except Exception:
                log.exception("storage callback failed")
        self._outstanding -= len(results)
        if not self._outstanding:
            self._idle.set()
