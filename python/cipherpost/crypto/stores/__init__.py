"""Client-side storage interfaces of the Signal protocol, and two implementations.

The five interfaces are small verb-first `typing.Protocol` classes, so any object with these
methods is a store. `MemoryProtocolStore` keeps the Rust record objects themselves and is the
reference implementation; `SqliteProtocolStore` serializes them into one SQLite file. Both pass
the same test suite.

Load methods return None for a missing entry. The session and group ciphers mutate a loaded
record and then store it; a store may return the stored object itself (the memory store does)
or a fresh copy (the SQLite store does), and callers must work with either.
"""

from cipherpost.crypto.stores.base import (
    IdentityKeyStore,
    PreKeyStore,
    ProtocolStore,
    SenderKeyStore,
    SessionStore,
    SignedPreKeyStore,
)
from cipherpost.crypto.stores.memory import MemoryProtocolStore
from cipherpost.crypto.stores.sqlite import SqliteProtocolStore

__all__ = [
    "IdentityKeyStore",
    "MemoryProtocolStore",
    "PreKeyStore",
    "ProtocolStore",
    "SenderKeyStore",
    "SessionStore",
    "SignedPreKeyStore",
    "SqliteProtocolStore",
]
