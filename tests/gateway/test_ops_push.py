"""Push notifications through a real local webhook server that fails, then recovers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cipherpost.exceptions import GatewayError
from cipherpost.protocol.frames import Kind, Status

from .conftest import register
from .helpers import envelope_to, new_message_id, next_kind, receive_texts
from .ops import CONDITION_TIMEOUT, free_port, scrape, start_gateway


@dataclass
class Webhook:
    """A push service on loopback that answers 503 to its first `failures` calls."""

    failures: int
    calls: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        payload = await request.json()
        self.calls.append(payload)
        self.changed.set()
        if len(self.calls) <= self.failures:
            return web.Response(status=503)
        self.accepted.append(payload)
        return web.Response(status=204)

    async def wait_accepted(self, count: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONDITION_TIMEOUT
        while len(self.accepted) < count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), max(0.1, deadline - loop.time()))


@pytest.fixture
async def webhook() -> AsyncIterator[Webhook]:
    hook = Webhook(failures=2)
    app = web.Application()
    app.router.add_post("/push", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    hook.url = f"http://127.0.0.1:{port}/push"
    yield hook
    await runner.cleanup()


async def test_push_retries_until_webhook_recovers(tmp_path: Path, webhook: Webhook) -> None:
    metrics_port = free_port()
    gateway = start_gateway(
        tmp_path,
        push_url=webhook.url,
        push_interval_s=3600,
        push_retry_base_s=0.05,
        metrics_port=metrics_port,
        rate_limits="off",
    )
    try:
        alice = await register(gateway, "alice")
        bob = await register(gateway, "bob")
        await bob.connection.close()
        await alice.connection.send_envelopes(new_message_id(), envelope_to("bob", [1], b"wake"))
        await webhook.wait_accepted(1)

        assert webhook.calls == [{"user": "bob", "device": 1, "pending": 1}] * 3
        assert webhook.accepted == [{"user": "bob", "device": 1, "pending": 1}]

        # Within the interval the device gets no second push, however many messages arrive.
        for index in range(3):
            await alice.connection.send_envelopes(
                new_message_id(), envelope_to("bob", [1], b"%d" % index)
            )
        samples = await scrape(metrics_port)
        assert samples["cipherpost_pushes_sent_total"] == 1
        assert samples["cipherpost_pushes_failed_total"] == 2
        assert len(webhook.calls) == 3

        connection = await bob.reconnect(gateway)
        assert await receive_texts(connection, 4) == [b"wake", b"0", b"1", b"2"]
        await alice.connection.close()
        await connection.close()
    finally:
        gateway.stop()


async def test_push_coalesced_per_interval_and_not_for_online(
    tmp_path: Path, webhook: Webhook
) -> None:
    webhook.failures = 0
    gateway = start_gateway(tmp_path, push_url=webhook.url, push_interval_s=1.0, rate_limits="off")
    try:
        alice = await register(gateway, "alice")
        bob = await register(gateway, "bob")
        carol = await register(gateway, "carol")
        await bob.connection.close()
        await alice.connection.send_envelopes(new_message_id(), envelope_to("bob", [1], b"1"))
        await webhook.wait_accepted(1)
        for text in (b"2", b"3"):
            await alice.connection.send_envelopes(new_message_id(), envelope_to("bob", [1], text))
        # The second push comes at the end of the interval with the count of that moment.
        await webhook.wait_accepted(2)
        assert webhook.accepted == [
            {"user": "bob", "device": 1, "pending": 1},
            {"user": "bob", "device": 1, "pending": 3},
        ]
        # Carol is online: no push for her.
        await alice.connection.send_envelopes(new_message_id(), envelope_to("carol", [1], b"c"))
        assert await receive_texts(carol.connection, 1) == [b"c"]
        assert all(call["user"] == "bob" for call in webhook.calls)
        await alice.connection.close()
        await carol.connection.close()
    finally:
        gateway.stop()


async def test_push_gives_up_after_max_tries(tmp_path: Path, webhook: Webhook) -> None:
    from cipherpost.gateway.push import PUSH_MAX_TRIES

    webhook.failures = 1000
    metrics_port = free_port()
    gateway = start_gateway(
        tmp_path,
        push_url=webhook.url,
        push_interval_s=3600,
        push_retry_base_s=0.02,
        metrics_port=metrics_port,
        rate_limits="off",
    )
    try:
        alice = await register(gateway, "alice")
        bob = await register(gateway, "bob")
        await bob.connection.close()
        await alice.connection.send_envelopes(new_message_id(), envelope_to("bob", [1], b"x"))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONDITION_TIMEOUT
        while (await scrape(metrics_port)).get("cipherpost_pushes_given_up_total", 0) < 1:
            assert loop.time() < deadline, "the push was never given up"
            await asyncio.sleep(0.1)
        assert len(webhook.calls) == PUSH_MAX_TRIES
        await alice.connection.close()
    finally:
        gateway.terminate()
    assert "giving up" in gateway.stderr_text()


async def test_no_push_for_expired_or_rejected(tmp_path: Path, webhook: Webhook) -> None:
    webhook.failures = 0
    gateway = start_gateway(
        tmp_path,
        push_url=webhook.url,
        push_interval_s=5.0,
        queue_ttl_s=1,
        queue_max_length=2,
        expiry_sweep_s=0.2,
        rate_limits="off",
    )
    try:
        alice = await register(gateway, "alice")
        bob = await register(gateway, "bob")
        await bob.connection.close()
        first, second = new_message_id(), new_message_id()
        await alice.connection.send_envelopes(first, envelope_to("bob", [1], b"1"))
        await webhook.wait_accepted(1)
        # Inside the interval: this one waits for the interval's end, then has expired.
        await alice.connection.send_envelopes(second, envelope_to("bob", [1], b"2"))
        with pytest.raises(GatewayError):  # the queue is full: rejected, so no push either
            await alice.connection.send_envelopes(new_message_id(), envelope_to("bob", [1], b"3"))
        expired = set()
        while expired != {first, second}:
            status = await next_kind(alice.connection, Kind.STATUS)
            assert status.flags == Status.EXPIRED
            expired.add(status.message_id)
        await asyncio.sleep(6.0)  # past the end of the push interval
        assert webhook.calls == [{"user": "bob", "device": 1, "pending": 1}]
        await alice.connection.close()
    finally:
        gateway.stop()
