"""The gateway's static Noise key, kept in the data directory."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cipherpost._core import TransportKeyPair

log = logging.getLogger("cipherpost.gateway")

KEY_FILE = "gateway.key"
PRIVATE_KEY_SIZE = 32


def load_or_create_key(data_dir: Path) -> TransportKeyPair:
    """Load the key from `data_dir`, or create it (file mode 0600) on first start."""
    path = data_dir / KEY_FILE
    if path.exists():
        private = path.read_bytes()
        if len(private) != PRIVATE_KEY_SIZE:
            raise ValueError(
                f"gateway key file {str(path)!r} has {len(private)} bytes, expected "
                f"{PRIVATE_KEY_SIZE}; restore it from a backup or delete it to make a new key "
                "(clients that pinned the old key will then refuse to connect)"
            )
        return TransportKeyPair.from_private(private)
    key = TransportKeyPair.generate()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key.private_key)
    log.info("created gateway key %s", key.public_key.hex()[:16])
    return key
