"""The client under operations faults: a restarted gateway and rate-limited sends."""

from __future__ import annotations

from pathlib import Path

from cipherpost.client import Client, ConnectionLost, MessageReceived

from .ops import start_gateway
from .test_client import next_of

EVENT_TIMEOUT = 60.0


async def test_client_reconnects_and_resumes_after_restart(tmp_path: Path) -> None:
    gateway = start_gateway(tmp_path / "gw", rate_limits="off")
    try:
        alice = await Client.register(
            tmp_path / "alice", gateway.host, gateway.port, "alice", gateway_key=gateway.key
        )
        bob = await Client.register(
            tmp_path / "bob", gateway.host, gateway.port, "bob", gateway_key=gateway.key
        )
        await alice.send_text("bob", "before")
        received = await next_of(bob, MessageReceived)
        assert isinstance(received, MessageReceived)

        gateway.kill()
        lost = await next_of(alice, ConnectionLost)
        assert isinstance(lost, ConnectionLost)
        assert lost.will_reconnect
        gateway.start()  # same port and data directory

        # The send waits for the reconnect (backoff with jitter), then goes through.
        await alice.send_text("bob", "after")
        texts = []
        while "after" not in texts:
            event = await bob.next_event(EVENT_TIMEOUT)
            if isinstance(event, MessageReceived):
                texts.append(event.text)
        assert texts == ["after"]
        await alice.close()
        await bob.close()
    finally:
        gateway.stop()


async def test_client_waits_out_rate_limit(tmp_path: Path) -> None:
    gateway = start_gateway(tmp_path / "gw", message_rate_limit="1/1")
    try:
        alice = await Client.register(
            tmp_path / "alice", gateway.host, gateway.port, "alice", gateway_key=gateway.key
        )
        bob = await Client.register(
            tmp_path / "bob", gateway.host, gateway.port, "bob", gateway_key=gateway.key
        )
        for text in ("one", "two", "three"):
            await alice.send_text("bob", text)
        texts = []
        while len(texts) < 3:
            event = await bob.next_event(EVENT_TIMEOUT)
            if isinstance(event, MessageReceived):
                texts.append(event.text)
        assert texts == ["one", "two", "three"]
        await alice.close()
        await bob.close()
    finally:
        gateway.stop()
