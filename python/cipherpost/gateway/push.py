"""Push notifications: a webhook call for an offline device that has new envelopes.

The payload carries no content, only `{"user", "device", "pending"}` (the count of queued
envelopes), so the push service learns who has mail but nothing of it. A device gets at most
one push per interval: a notice inside the interval schedules one push at its end, which then
carries the count of that moment. A failed call (network error, timeout or a non-2xx status)
is retried with exponential backoff and jitter (the delay times 0.5 to 1.5), and given up
with a warning after PUSH_MAX_TRIES. Envelopes that were rejected were never stored and expired
ones are gone, so neither causes a push. A device that reconnected or has nothing pending gets
none either.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable

import aiohttp

log = logging.getLogger("cipherpost.gateway.push")

# NOTE: guessed. Five tries with a 1 s base span about half a minute, and after that the device
# gets the next push in its next interval anyway.
PUSH_MAX_TRIES = 5
# Maximum wait between two tries, whatever the backoff computes.
PUSH_MAX_RETRY_DELAY_S = 60.0
# Time for one webhook call; a push service that needs longer is treated as failed.
PUSH_REQUEST_TIMEOUT_S = 10.0

DeviceKey = tuple[str, int]


class PushNotifier:
    def __init__(
        self,
        url: str,
        interval_s: float,
        retry_base_s: float,
        pending_count: Callable[[str, int], Awaitable[int]],
        is_online: Callable[[DeviceKey], bool],
    ) -> None:
        self.url = url
        self.interval_s = interval_s
        self.retry_base_s = retry_base_s
        self._pending_count = pending_count
        self._is_online = is_online
        self._last: dict[DeviceKey, float] = {}  # start of the device's last push
        self._scheduled: set[DeviceKey] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self.sent = 0  # pushes the webhook accepted
        self.failed = 0  # failed webhook calls, retried or not
        self.given_up = 0  # pushes dropped after PUSH_MAX_TRIES

    def notify(self, user: str, device_id: int) -> None:
        """Schedule a push for an offline device that has a new envelope."""
        key = (user, device_id)
        if key in self._scheduled:
            return
        self._scheduled.add(key)
        last = self._last.get(key)
        now = time.monotonic()
        delay = 0.0 if last is None else max(0.0, last + self.interval_s - now)
        task = asyncio.get_running_loop().create_task(self._push_later(key, delay))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _push_later(self, key: DeviceKey, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        self._scheduled.discard(key)
        if self._is_online(key):
            return
        pending = await self._pending_count(*key)
        if pending <= 0:
            return
        self._last[key] = time.monotonic()
        await self._deliver(key, pending)

    async def _deliver(self, key: DeviceKey, pending: int) -> None:
        user, device_id = key
        payload = {"user": user, "device": device_id, "pending": pending}
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=PUSH_REQUEST_TIMEOUT_S)
            )
        for attempt in range(1, PUSH_MAX_TRIES + 1):
            try:
                async with self._session.post(self.url, json=payload) as response:
                    if 200 <= response.status < 300:
                        self.sent += 1
                        return
                    problem = f"status {response.status}"
            except (aiohttp.ClientError, TimeoutError) as error:
                problem = f"{type(error).__name__}: {error}"
            self.failed += 1
            if attempt == PUSH_MAX_TRIES:
                self.given_up += 1
                log.warning(
                    "push for device %s/%d failed %d times (%s); giving up",
                    user,
                    device_id,
                    attempt,
                    problem,
                )
                return
            delay = min(self.retry_base_s * 2 ** (attempt - 1), PUSH_MAX_RETRY_DELAY_S)
            delay *= random.uniform(0.5, 1.5)
            log.info(
                "push for device %s/%d failed (%s); retry %d in %.1f s",
                user,
                device_id,
                problem,
                attempt + 1,
                delay,
            )
            await asyncio.sleep(delay)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
