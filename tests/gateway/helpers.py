"""Helpers shared by the gateway tests."""

from __future__ import annotations

import os

import pytest
from cipherpost._framing import Frame
from cipherpost.client.connection import Disconnected, GatewayConnection
from cipherpost.protocol.frames import DeviceEnvelope, Kind, SendBody, decode_deliver

EVENT_TIMEOUT = 10.0


def new_message_id() -> bytes:
    return os.urandom(16)


def envelope_to(recipient: str, devices: list[int], text: bytes, timestamp_ms: int = 1) -> SendBody:
    return SendBody(
        recipient, timestamp_ms, tuple(DeviceEnvelope(device, 2, text) for device in devices)
    )


async def next_kind(connection: GatewayConnection, kind: Kind) -> Frame:
    """Return the next event of `kind`, skipping NOTICE and DRAINED frames unless `kind` is
    one of them; fail on anything else."""
    while True:
        event = await connection.next_event(EVENT_TIMEOUT)
        if isinstance(event, Disconnected):
            pytest.fail(f"disconnected while waiting for {kind.name}: {event}")
        if event.kind != kind and event.kind in (Kind.NOTICE, Kind.DRAINED):
            continue
        assert event.kind == kind, f"expected {kind.name}, got frame kind {event.kind:#04x}"
        return event


async def receive_texts(connection: GatewayConnection, count: int, ack: bool = True) -> list[bytes]:
    texts = []
    while len(texts) < count:
        frame = await next_kind_any(connection, (Kind.DELIVER, Kind.DRAINED))
        if frame.kind == Kind.DRAINED:
            continue
        texts.append(decode_deliver(frame.body).ciphertext)
        if ack:
            connection.ack(frame.seq)
    return texts


async def next_kind_any(connection: GatewayConnection, kinds: tuple[Kind, ...]) -> Frame:
    while True:
        event = await connection.next_event(EVENT_TIMEOUT)
        if isinstance(event, Disconnected):
            pytest.fail(f"disconnected while waiting for {kinds}: {event}")
        if event.kind in kinds:
            return event
        if event.kind == Kind.NOTICE:
            continue
        raise AssertionError(f"unexpected frame kind {event.kind:#04x}")
