"""Keepalive: answering peers stay connected, a silent peer is closed and its unacknowledged
envelopes stay queued."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cipherpost._framing import Frame
from cipherpost.client.connection import Disconnected, GatewayConnection
from cipherpost.protocol.frames import Kind, Reason

from .conftest import register
from .helpers import envelope_to, new_message_id, next_kind
from .ops import CONDITION_TIMEOUT, start_gateway


class SilentConnection(GatewayConnection):
    """A client whose network died: it no longer answers PING (and sends nothing)."""

    def _dispatch(self, frame: Frame) -> Disconnected | None:
        if frame.kind == Kind.PING:
            self.events.put_nowait(frame)
            return None
        return super()._dispatch(frame)


async def test_answering_peer_stays_connected(tmp_path: Path) -> None:
    gateway = start_gateway(tmp_path, keepalive_interval_s=0.5, keepalive_timeout_s=3)
    try:
        alice = await register(gateway, "alice")
        await asyncio.sleep(4.0)  # several keepalive rounds while the client is idle
        assert alice.connection.closed is None
        await alice.connection.request(Kind.PREKEY_COUNT)
        await alice.connection.close()
    finally:
        gateway.stop()


async def test_silent_peer_closed_and_envelope_kept(tmp_path: Path) -> None:
    gateway = start_gateway(tmp_path, keepalive_interval_s=0.5, keepalive_timeout_s=3)
    try:
        alice = await register(gateway, "alice")
        bob = await register(gateway, "bob")
        await bob.connection.close()

        silent = await SilentConnection.connect(gateway.host, gateway.port, bob.key, gateway.key)
        await silent.request(Kind.HELLO)
        message_id = new_message_id()
        await alice.connection.send_envelopes(message_id, envelope_to("bob", [1], b"unacked"))
        delivered = await next_kind(silent, Kind.DELIVER)  # received, never acknowledged

        ping_seen = False
        while True:
            event = await silent.next_event(CONDITION_TIMEOUT)
            if isinstance(event, Disconnected):
                break
            ping_seen = ping_seen or event.kind == Kind.PING
        assert ping_seen
        assert event.reason == Reason.KEEPALIVE_TIMEOUT

        connection = await bob.reconnect(gateway)
        again = await next_kind(connection, Kind.DELIVER)
        assert again.message_id == message_id
        assert again.seq == delivered.seq
        await alice.connection.close()
        await connection.close()
    finally:
        gateway.stop()
