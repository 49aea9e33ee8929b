"""Token-bucket rate limits of the gateway, kept in process memory.

A bucket contains at most `capacity` tokens and refills at `rate` tokens per second; each action
takes one token. An empty bucket rejects the action and reports how long until a token is
back, which the gateway sends as the retry-after value. Buckets are per gateway process, so
a restart resets them, which errs toward letting clients through.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from cipherpost.exceptions import RateLimitedError
from cipherpost.protocol.frames import ErrorCode

# Buckets kept per limit before full (idle) ones are pruned. A full bucket behaves exactly like
# a missing one, so pruning changes no decision; it only bounds memory under many keys.
MAX_BUCKETS_BEFORE_PRUNE = 100_000


@dataclass(frozen=True, slots=True)
class Rate:
    capacity: float  # tokens in a full bucket
    per_second: float  # refill rate


def parse_rate(name: str, text: str) -> Rate | None:
    """Parse "BUCKET/SECONDS" (a bucket of BUCKET tokens refilled in SECONDS) or "off"."""
    if text == "off":
        return None
    bucket, _, seconds = text.partition("/")
    try:
        capacity = float(bucket)
        period = float(seconds)
    except ValueError:
        capacity = period = 0.0
    if capacity < 1 or period <= 0:
        raise ValueError(
            f"{name} {text!r} must be BUCKET/SECONDS with BUCKET >= 1 and SECONDS > 0 "
            "(such as 60/60), or off"
        )
    return Rate(capacity, capacity / period)


class RateLimiter:
    """Token buckets of one limit, by key (a user pair, a device or an address)."""

    def __init__(
        self, name: str, rate: Rate | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self.rate = rate
        self._clock = clock
        # key -> (tokens at `updated`, updated)
        self._buckets: dict[Hashable, tuple[float, float]] = {}
        self.rejected = 0

    def try_take(self, key: Hashable) -> int:
        """Take a token for `key`; return 0 on success, else milliseconds until one is back."""
        rate = self.rate
        if rate is None:
            return 0
        now = self._clock()
        tokens, updated = self._buckets.get(key, (rate.capacity, now))
        tokens = min(rate.capacity, tokens + (now - updated) * rate.per_second)
        if tokens >= 1:
            if len(self._buckets) >= MAX_BUCKETS_BEFORE_PRUNE:
                self._prune(now)
            self._buckets[key] = (tokens - 1, now)
            return 0
        self._buckets[key] = (tokens, now)
        self.rejected += 1
        return max(1, int((1 - tokens) / rate.per_second * 1000 + 0.999))

    def take(self, key: Hashable, action: str) -> None:
        """Take a token for `key` or raise RateLimitedError naming the limited `action`."""
        retry_after_ms = self.try_take(key)
        if retry_after_ms:
            raise RateLimitedError(
                ErrorCode.RATE_LIMITED,
                f"too many {action}; retry after {retry_after_ms} ms",
                retry_after_ms,
            )

    def _prune(self, now: float) -> None:
        rate = self.rate
        assert rate is not None
        full = [
            key
            for key, (tokens, updated) in self._buckets.items()
            if tokens + (now - updated) * rate.per_second >= rate.capacity
        ]
        for key in full:
            del self._buckets[key]


class RateLimits:
    """The gateway's four limits, built from its configuration."""

    def __init__(
        self,
        enabled: bool,
        messages: str,
        prekey_claims: str,
        registrations: str,
        connections: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        def build(name: str, text: str) -> RateLimiter:
            return RateLimiter(name, parse_rate(name, text) if enabled else None, clock)

        self.messages = build("message_rate_limit", messages)
        self.prekey_claims = build("prekey_claim_rate_limit", prekey_claims)
        self.registrations = build("registration_rate_limit", registrations)
        self.connections = build("connection_rate_limit", connections)

    def all(self) -> tuple[RateLimiter, ...]:
        return (self.messages, self.prekey_claims, self.registrations, self.connections)
