"""`cipherpost gateway`: run the gateway daemon."""

from __future__ import annotations

import argparse
import logging
import secrets
import sys

from cipherpost.gateway.config import DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT, load_config

# Maximum tokens per command, a guard against a typo such as 10000000.
MAX_TOKENS_PER_RUN = 1000


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "gateway",
        help="run the gateway daemon",
        description=(
            "Run the gateway daemon. Settings come from --config (TOML), then CIPHERPOST_* "
            "environment variables (CIPHERPOST_HOST, CIPHERPOST_PORT, CIPHERPOST_DATA_DIR, "
            "CIPHERPOST_REGISTRATION, CIPHERPOST_STORAGE, CIPHERPOST_SQLITE_SYNCHRONOUS, "
            "CIPHERPOST_LOG_LEVEL and the settings in docs/operations.md), then these options. "
            "SIGTERM stops it cleanly."
        ),
    )
    parser.add_argument("--config", help="TOML file with gateway settings")
    parser.add_argument("--host", help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument(
        "--port", type=int, help=f"TCP port (default {DEFAULT_PORT}; 0 picks a free one)"
    )
    parser.add_argument(
        "--data-dir",
        help=f"directory for the key and the SQLite store (default ./{DEFAULT_DATA_DIR})",
    )
    parser.add_argument(
        "--registration", choices=("open", "token"), help="who may register (default open)"
    )
    parser.add_argument(
        "--storage", choices=("sqlite", "memory"), help="store backend (default sqlite)"
    )
    parser.add_argument(
        "--create-tokens",
        type=int,
        metavar="N",
        help="create N single-use registration tokens, print them and exit",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(
            args.config,
            overrides={
                "host": args.host,
                "port": args.port,
                "data_dir": args.data_dir,
                "registration": args.registration,
                "storage": args.storage,
            },
        )
    except ValueError as error:
        print(f"cipherpost gateway: {error}", file=sys.stderr)
        return 2
    if not args.debug:
        logging.getLogger().setLevel(config.log_level.upper())

    if args.create_tokens is not None:
        return create_tokens(config, args.create_tokens)

    from cipherpost.gateway.server import run_gateway

    return run_gateway(config)


def create_tokens(config: object, count: int) -> int:
    from cipherpost.gateway.config import GatewayConfig
    from cipherpost.gateway.server import open_store

    assert isinstance(config, GatewayConfig)
    if not 1 <= count <= MAX_TOKENS_PER_RUN:
        print(
            f"cipherpost gateway: --create-tokens {count} is outside 1..{MAX_TOKENS_PER_RUN}",
            file=sys.stderr,
        )
        return 2
    if config.storage != "sqlite":
        print("cipherpost gateway: tokens need the sqlite store", file=sys.stderr)
        return 2
    store = open_store(config)
    try:
        with store.transaction():
            for _ in range(count):
                token = secrets.token_urlsafe(16)
                store.add_registration_token(token)
                print(token)
    finally:
        store.close()
    return 0
