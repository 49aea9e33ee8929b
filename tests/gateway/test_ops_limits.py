"""Token-bucket rate limits, each answered with a retry-after value."""

from __future__ import annotations

from pathlib import Path

import pytest
from cipherpost._core import TransportKeyPair
from cipherpost.client.connection import Disconnected
from cipherpost.exceptions import GatewayError, RateLimitedError
from cipherpost.gateway.ratelimit import RateLimiter, parse_rate
from cipherpost.protocol.frames import ErrorCode, Kind, Reason

from .conftest import register
from .helpers import EVENT_TIMEOUT, envelope_to, new_message_id, receive_texts
from .ops import free_port, scrape, start_gateway
from .test_prekeys import upload


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_refills_and_reports_retry_after() -> None:
    clock = FakeClock()
    limiter = RateLimiter("test", parse_rate("test", "2/10"), clock)
    assert limiter.try_take("k") == 0
    assert limiter.try_take("k") == 0
    assert limiter.try_take("k") == 5000  # one token refills in 10 s / 2
    assert limiter.try_take("other") == 0
    clock.now += 5.0
    assert limiter.try_take("k") == 0
    assert limiter.rejected == 1


def test_parse_rate_rejects_bad_values() -> None:
    assert parse_rate("limit", "off") is None
    for text in ("", "60", "0/60", "60/0", "a/b", "-1/5"):
        with pytest.raises(ValueError, match="BUCKET/SECONDS"):
            parse_rate("limit", text)


async def test_message_pair_limit(tmp_path: Path) -> None:
    metrics_port = free_port()
    gateway = start_gateway(tmp_path, message_rate_limit="3/600", metrics_port=metrics_port)
    try:
        alice = await register(gateway, "alice")
        bob = await register(gateway, "bob")
        carol = await register(gateway, "carol")
        for index in range(3):
            await alice.connection.send_envelopes(
                new_message_id(), envelope_to("bob", [1], b"%d" % index)
            )
        with pytest.raises(RateLimitedError) as limited:
            await alice.connection.send_envelopes(new_message_id(), envelope_to("bob", [1], b"x"))
        assert limited.value.code == ErrorCode.RATE_LIMITED
        assert limited.value.retry_after_ms > 0

        # Other pairs have their own buckets.
        await alice.connection.send_envelopes(new_message_id(), envelope_to("carol", [1], b"c"))
        assert await receive_texts(carol.connection, 1) == [b"c"]
        assert await receive_texts(bob.connection, 3) == [b"0", b"1", b"2"]
        samples = await scrape(metrics_port)
        assert samples["cipherpost_rate_limit_rejections_total{limit=message_rate_limit}"] == 1
        for device in (alice, bob, carol):
            await device.connection.close()
    finally:
        gateway.stop()


async def test_prekey_drain_is_limited(tmp_path: Path) -> None:
    gateway = start_gateway(tmp_path, prekey_claim_rate_limit="6/600")
    try:
        bob = await register(gateway, "bob")
        assert await upload(bob, 100) == 100
        mallory = await register(gateway, "mallory")
        claimed = 0
        with pytest.raises(RateLimitedError) as limited:
            for _ in range(50):
                await mallory.connection.request(Kind.PREKEY_CLAIM, {"user": "bob"})
                claimed += 1
        assert claimed == 6
        assert limited.value.retry_after_ms > 0
        count = await bob.connection.request(Kind.PREKEY_COUNT)
        assert count["count"] == 94
        await bob.connection.close()
        await mallory.connection.close()
    finally:
        gateway.stop()


async def test_registration_limit_per_address(tmp_path: Path) -> None:
    gateway = start_gateway(tmp_path, registration_rate_limit="2/3600")
    try:
        first = await register(gateway, "user0")
        second = await register(gateway, "user1")
        with pytest.raises(RateLimitedError) as limited:
            await register(gateway, "user2")
        assert limited.value.retry_after_ms > 0
        # The rejected connection may still authenticate as a registered device.
        await first.connection.close()
        connection = await first.reconnect(gateway)
        await connection.close()
        await second.connection.close()
    finally:
        gateway.stop()


async def test_connection_limit_per_address(tmp_path: Path) -> None:
    gateway = start_gateway(tmp_path, connection_rate_limit="3/3600")
    try:
        alice = await register(gateway, "alice")
        bob = await register(gateway, "bob")
        extra = await gateway.connect(TransportKeyPair.generate())
        limited = await gateway.connect(TransportKeyPair.generate())
        with pytest.raises(RateLimitedError) as rejected:
            await limited.request(Kind.HELLO)
        assert rejected.value.retry_after_ms > 0
        event = await limited.next_event(EVENT_TIMEOUT)
        assert isinstance(event, Disconnected)
        assert event.reason == Reason.RATE_LIMITED
        assert event.retry_after_ms == rejected.value.retry_after_ms
        # Connections accepted before the limit keep working.
        await alice.connection.send_envelopes(new_message_id(), envelope_to("bob", [1], b"up"))
        assert await receive_texts(bob.connection, 1) == [b"up"]
        for connection in (alice.connection, bob.connection, extra, limited):
            await connection.close()
    finally:
        gateway.stop()


async def test_invalid_rate_setting_stops_startup(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="message_rate_limit"):
        start_gateway(tmp_path, message_rate_limit="lots")


async def test_limits_off_by_setting(tmp_path: Path) -> None:
    gateway = start_gateway(tmp_path, rate_limits="off", message_rate_limit="1/3600")
    try:
        alice = await register(gateway, "alice")
        await register(gateway, "bob")
        for index in range(5):
            await alice.connection.send_envelopes(
                new_message_id(), envelope_to("bob", [1], b"%d" % index)
            )
        await alice.connection.close()
    except GatewayError as error:
        pytest.fail(f"rate limits were off, but a send failed: {error}")
    finally:
        gateway.stop()
