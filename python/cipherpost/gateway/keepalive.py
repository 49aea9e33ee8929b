"""Keepalive: idle connections are pinged, and a peer that stays silent is closed.

Every `interval` seconds the gateway looks at each connection. One that sent nothing since
the last look gets a PING; one that still sent nothing `timeout` seconds after its PING is
closed with reason KEEPALIVE_TIMEOUT. A connection still in the Noise handshake cannot be
pinged and is closed after the same silence. Closing deletes nothing: envelopes the device
had not acknowledged stay queued and are delivered on its next connection.

Activity is one set insertion per received chunk of bytes, so no timer exists per
connection and an idle connection costs no memory until it is pinged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from cipherpost.protocol.frames import Kind, Reason

if TYPE_CHECKING:
    from cipherpost.gateway.server import Gateway, GatewayConnection

log = logging.getLogger("cipherpost.gateway.keepalive")


class Keepalive:
    def __init__(self, gateway: Gateway, interval_s: float, timeout_s: float) -> None:
        self.gateway = gateway
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.active: set[GatewayConnection] = set()
        self._pinged: dict[GatewayConnection, float] = {}
        self.timeouts = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            self.check(time.monotonic())

    def check(self, now: float) -> None:
        active = self.active
        pinged = self._pinged
        for connection in self.gateway.all_connections():
            if connection in active:
                pinged.pop(connection, None)
                continue
            since = pinged.get(connection)
            if since is None:
                pinged[connection] = now
                if connection.noise.established:
                    connection.send_frame(Kind.PING)
            elif now - since >= self.timeout_s:
                self.timeouts += 1
                log.info("closing %s: no response to keepalive ping", connection.name)
                connection.disconnect(Reason.KEEPALIVE_TIMEOUT, "no response to keepalive ping")
        active.clear()
        for connection in [c for c in pinged if c.transport is None or c.transport.is_closing()]:
            del pinged[connection]

    def forget(self, connection: GatewayConnection) -> None:
        self.active.discard(connection)
        self._pinged.pop(connection, None)
