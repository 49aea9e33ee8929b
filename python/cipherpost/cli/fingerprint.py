"""`cipherpost fingerprint`: show safety numbers to compare with a contact.

With only a store and our user id it prints our identity key and our 30-digit half. With a
contact it prints the 60-digit safety number of the pair as 12 groups of 5 digits, which both
users compare (in person or over another channel) to detect a swapped identity key.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
from pathlib import Path

from cipherpost.crypto import (
    Address,
    format_safety_number,
    identity_digits,
    safety_number,
    scannable_fingerprint,
)
from cipherpost.crypto.stores import SqliteProtocolStore
from cipherpost.exceptions import InvalidCryptoArgumentError, ProtocolStoreError

STORE_ENV = "CIPHERPOST_STORE"
DEFAULT_DEVICE_ID = 1


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "fingerprint",
        help="show our identity's or a contact's safety number",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--store",
        default=os.environ.get(STORE_ENV),
        help=f"SQLite protocol store of this device (default: ${STORE_ENV})",
    )
    parser.add_argument("--local-id", required=True, help="our user id, as contacts know it")
    parser.add_argument(
        "--remote",
        metavar="NAME[.DEVICE]",
        help="contact whose identity key is in the store (device defaults to 1)",
    )
    parser.add_argument(
        "--remote-key",
        metavar="HEX",
        help="contact's identity key (66 hex digits) instead of the stored one; needs --remote",
    )
    parser.add_argument(
        "--scannable",
        action="store_true",
        help="also print the QR-code payload (protobuf CombinedFingerprints) as hex",
    )
    parser.set_defaults(func=run)


def parse_remote(value: str) -> Address:
    """Parse NAME or NAME.DEVICE into an address."""
    name, dot, device = value.rpartition(".")
    if dot and device.isdigit() and name:
        return Address(name, int(device))
    return Address(value, DEFAULT_DEVICE_ID)


def open_store(path: str | None) -> SqliteProtocolStore:
    if not path:
        raise InvalidCryptoArgumentError(
            f"no protocol store given; pass --store PATH or set ${STORE_ENV}"
        )
    if not Path(path).is_file():
        raise ProtocolStoreError(f"protocol store {path} not found; check --store")
    try:
        return SqliteProtocolStore(path)
    except sqlite3.DatabaseError as error:
        raise ProtocolStoreError(
            f"protocol store {path} cannot be read ({error}); pass the protocol.sqlite3 file "
            "of a device's state directory as --store"
        ) from error


def remote_identity_key(args: argparse.Namespace, store: SqliteProtocolStore) -> bytes:
    address = parse_remote(args.remote)
    if args.remote_key:
        try:
            return bytes.fromhex(args.remote_key)
        except ValueError:
            raise InvalidCryptoArgumentError(
                f"--remote-key {args.remote_key!r} is not hex; pass the 33-byte key as 66 hex digits"
            ) from None
    key = store.load_identity(address)
    if key is None:
        raise ProtocolStoreError(
            f"no identity key stored for {address}; start a session with them first or pass "
            "--remote-key"
        )
    return key


def run(args: argparse.Namespace) -> int:
    if args.remote_key and not args.remote:
        raise InvalidCryptoArgumentError("--remote-key needs --remote NAME to name the contact")

    with open_store(args.store) as store:
        our_key = store.identity_key_pair().public_key
        if not args.remote:
            print(f"identity key  {our_key.hex()}")
            print(f"our digits    {format_safety_number(identity_digits(args.local_id, our_key))}")
            return 0

        their_key = remote_identity_key(args, store)
        remote_id = parse_remote(args.remote).name
        digits = safety_number(args.local_id, our_key, remote_id, their_key)
        print(f"safety number {format_safety_number(digits)}")
        if args.scannable:
            payload = scannable_fingerprint(args.local_id, our_key, remote_id, their_key)
            print(f"scannable     {payload.hex()}")
    return 0
