"""`cipherpost media`: encrypt and decrypt media files, run the media service, mint tokens."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import secrets
import signal
import sys
from pathlib import Path

from cipherpost.exceptions import InvalidMediaArgumentError
from cipherpost.media.cipher import MEDIA_TYPES, decrypt_file, encrypt_file
from cipherpost.media.service import (
    DEFAULT_BLOB_TTL_SECONDS,
    DEFAULT_MAX_UPLOAD_BYTES,
    MediaServer,
    MediaServiceConfig,
)
from cipherpost.media.tokens import UPLOAD_TOKEN_TTL_SECONDS, mint_upload_token

logger = logging.getLogger("cipherpost.cli.media")

DEFAULT_DATA_DIR = "cipherpost-media"
DEFAULT_PORT = 8780
#: File in the data directory holding the upload token secret as hex.
SECRET_FILE_NAME = "upload-token.key"
SECRET_ENV = "CIPHERPOST_MEDIA_SECRET"
SECRET_LENGTH = 32


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "media", help="encrypt, decrypt and serve media", description=__doc__
    )
    commands = parser.add_subparsers(dest="media_command", metavar="SUBCOMMAND", required=True)
    types = ", ".join(MEDIA_TYPES)

    encrypt = commands.add_parser(
        "encrypt",
        help="encrypt a file in the WhatsApp media format",
        description="Encrypt IN to OUT and print media_key, file_sha256, file_enc_sha256 (hex) "
        "and file_length as JSON.",
    )
    encrypt.add_argument("--type", required=True, dest="media_type", help=f"media type: {types}")
    encrypt.add_argument("--key", help="media key as 64 hex digits (default: a fresh random key)")
    encrypt.add_argument("input", metavar="IN")
    encrypt.add_argument("output", metavar="OUT")
    encrypt.set_defaults(func=run_encrypt)

    decrypt = commands.add_parser(
        "decrypt",
        help="verify and decrypt a file in the WhatsApp media format",
        description="Decrypt IN to OUT. Exits non-zero and leaves OUT untouched if the blob "
        "hash, the MAC or the plaintext hash does not match.",
    )
    decrypt.add_argument("--type", required=True, dest="media_type", help=f"media type: {types}")
    decrypt.add_argument("--key", required=True, help="media key, 64 hex digits")
    decrypt.add_argument("--enc-sha256", required=True, help="SHA-256 of IN, 64 hex digits")
    decrypt.add_argument("--sha256", help="SHA-256 of the plaintext, 64 hex digits")
    decrypt.add_argument("input", metavar="IN")
    decrypt.add_argument("output", metavar="OUT")
    decrypt.set_defaults(func=run_decrypt)

    serve = commands.add_parser(
        "serve",
        help="run the media upload and download service",
        description=f"Run the media service. The upload token secret comes from {SECRET_ENV} "
        f"(hex), else from DATA_DIR/{SECRET_FILE_NAME}, which is created on first start.",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default %(default)s)"
    )
    serve.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="TCP port; 0 picks one (default %(default)s)"
    )
    serve.add_argument(
        "--data-dir", default=DEFAULT_DATA_DIR, help="blob storage directory (default %(default)s)"
    )
    serve.add_argument(
        "--max-upload-bytes",
        type=int,
        default=DEFAULT_MAX_UPLOAD_BYTES,
        help="largest accepted blob, in bytes (default %(default)s)",
    )
    serve.add_argument(
        "--blob-ttl",
        type=float,
        default=DEFAULT_BLOB_TTL_SECONDS,
        help="seconds a blob is kept after its last upload or reference (default %(default)s)",
    )
    serve.set_defaults(func=run_serve)

    token = commands.add_parser(
        "token",
        help="mint an upload token (for tests and administration)",
        description="Print an upload token signed with the service's secret. The gateway mints "
        "tokens for authenticated devices; this command is for tests and operators.",
    )
    token.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="media service directory")
    token.add_argument("--user", required=True, help="user id the token is issued to")
    token.add_argument("--device", type=int, default=1, help="device id the token is issued to")
    token.add_argument(
        "--max-bytes", type=int, default=DEFAULT_MAX_UPLOAD_BYTES, help="largest blob allowed"
    )
    token.add_argument(
        "--ttl", type=int, default=UPLOAD_TOKEN_TTL_SECONDS, help="token lifetime in seconds"
    )
    token.set_defaults(func=run_token)


# Largest TCP port number.
MAX_PORT = 65535


def _hex_argument(value: str, name: str, length: int) -> bytes:
    try:
        data = bytes.fromhex(value)
    except ValueError:
        data = b""
    if len(data) != length:
        raise InvalidMediaArgumentError(
            f"{name} {value[:80]!r} is invalid; give {2 * length} hex digits"
        )
    return data


def run_encrypt(args: argparse.Namespace) -> int:
    key = None if args.key is None else _hex_argument(args.key, "--key", 32)
    result = encrypt_file(args.input, args.output, args.media_type, key)
    report: dict[str, object] = {
        "media_type": args.media_type,
        "media_key": result.media_key.hex(),
        "file_sha256": result.file_sha256.hex(),
        "file_enc_sha256": result.file_enc_sha256.hex(),
        "file_length": result.file_length,
        "enc_length": result.enc_length,
    }
    if result.sidecar is not None:
        report["sidecar"] = result.sidecar.hex()
    print(json.dumps(report, indent=2))
    return 0


def run_decrypt(args: argparse.Namespace) -> int:
    key = _hex_argument(args.key, "--key", 32)
    enc_sha256 = _hex_argument(args.enc_sha256, "--enc-sha256", 32)
    sha256 = None if args.sha256 is None else _hex_argument(args.sha256, "--sha256", 32)
    file_sha256, file_length = decrypt_file(
        args.input, args.output, args.media_type, key, enc_sha256, sha256
    )
    print(json.dumps({"file_sha256": file_sha256.hex(), "file_length": file_length}, indent=2))
    return 0


def load_or_create_secret(data_dir: Path, create: bool) -> bytes:
    """Return the upload token secret from the environment or the data directory."""
    from_env = os.environ.get(SECRET_ENV)
    if from_env:
        return _hex_argument(from_env.strip(), SECRET_ENV, SECRET_LENGTH)
    path = data_dir / SECRET_FILE_NAME
    if path.exists():
        return _hex_argument(path.read_text().strip(), str(path), SECRET_LENGTH)
    if not create:
        raise InvalidMediaArgumentError(
            f"no upload token secret: set {SECRET_ENV} or start `cipherpost media serve "
            f"--data-dir {data_dir}` once to create {path}"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(SECRET_LENGTH)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secret.hex() + "\n")
    logger.info("created the upload token secret in %s", path)
    return secret


def _check_serve_arguments(args: argparse.Namespace) -> None:
    if not 0 <= args.port <= MAX_PORT:
        raise InvalidMediaArgumentError(f"--port {args.port} is outside 0..{MAX_PORT}")
    if args.max_upload_bytes <= 0:
        raise InvalidMediaArgumentError(
            f"--max-upload-bytes {args.max_upload_bytes} must be greater than zero"
        )
    if not (math.isfinite(args.blob_ttl) and args.blob_ttl > 0):
        raise InvalidMediaArgumentError(
            f"--blob-ttl {args.blob_ttl} must be a number of seconds greater than zero"
        )


def run_serve(args: argparse.Namespace) -> int:
    _check_serve_arguments(args)
    data_dir = Path(args.data_dir)
    config = MediaServiceConfig(
        root=data_dir,
        token_secret=load_or_create_secret(data_dir, create=True),
        max_upload_bytes=args.max_upload_bytes,
        blob_ttl_seconds=args.blob_ttl,
    )

    async def serve() -> None:
        server = MediaServer(config, args.host, args.port)
        url = await server.start()
        print(f"media service listening on {url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        await server.stop()

    asyncio.run(serve())
    return 0


def run_token(args: argparse.Namespace) -> int:
    secret = load_or_create_secret(Path(args.data_dir), create=False)
    token = mint_upload_token(
        secret, args.user, args.device, max_bytes=args.max_bytes, ttl_seconds=args.ttl
    )
    sys.stdout.write(token + "\n")
    return 0
