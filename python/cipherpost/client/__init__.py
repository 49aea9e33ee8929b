"""Async client library of cipherpost: one device of one user, talking to the gateway."""

from cipherpost.client.client import (
    CaughtUp,
    Client,
    ClientEvent,
    ConnectionLost,
    MessageReceived,
    TickChanged,
    conversation_order,
    new_message_id,
)
from cipherpost.client.connection import Disconnected, GatewayConnection

__all__ = [
    "CaughtUp",
    "Client",
    "ClientEvent",
    "ConnectionLost",
    "Disconnected",
    "GatewayConnection",
    "MessageReceived",
    "TickChanged",
    "conversation_order",
    "new_message_id",
]
