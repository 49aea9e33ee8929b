"""Gateway storage: small verb-first interfaces, an in-memory reference and SQLite."""

from cipherpost.storage.interfaces import (
    AccountStore,
    DeviceRecord,
    GatewayStore,
    MessageStore,
    OneTimePreKey,
    PreKeyBundleRecord,
    PreKeyStore,
    QueuedItem,
    SendOutcome,
    SignedPreKey,
)
from cipherpost.storage.memory import MemoryGatewayStore
from cipherpost.storage.sqlite import SqliteGatewayStore

__all__ = [
    "AccountStore",
    "DeviceRecord",
    "GatewayStore",
    "MemoryGatewayStore",
    "MessageStore",
    "OneTimePreKey",
    "PreKeyBundleRecord",
    "PreKeyStore",
    "QueuedItem",
    "SendOutcome",
    "SignedPreKey",
    "SqliteGatewayStore",
]
