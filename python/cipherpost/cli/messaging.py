"""`cipherpost register`, `cipherpost send` and `cipherpost listen`: one device from the shell."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from cipherpost.client import CaughtUp, Client, ConnectionLost, MessageReceived, TickChanged
from cipherpost.gateway.config import DEFAULT_HOST, DEFAULT_PORT
from cipherpost.protocol.frames import Status
from cipherpost.protocol.ticks import TICK_MARKS

DEFAULT_STATE_DIR = "cipherpost-device"


def _add_state_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(DEFAULT_STATE_DIR),
        help=f"directory with this device's keys and stores (default ./{DEFAULT_STATE_DIR})",
    )


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    register = subparsers.add_parser("register", help="register a user with this device")
    _add_state_dir(register)
    register.add_argument("user", help="user id to register")
    register.add_argument("--host", default=DEFAULT_HOST, help="gateway address")
    register.add_argument("--port", type=int, default=DEFAULT_PORT, help="gateway TCP port")
    register.add_argument("--token", help="single-use registration token, if the gateway needs one")
    register.add_argument(
        "--gateway-key", help="expected gateway public key (hex); pinned on first use otherwise"
    )
    register.set_defaults(func=run_register)

    send = subparsers.add_parser("send", help="send a text or a file to every device of a user")
    _add_state_dir(send)
    send.add_argument("user", help="recipient user id")
    send.add_argument("text", nargs="?", help="message text (leave out with --file)")
    _add_media_options(send)
    send.add_argument(
        "--file",
        type=Path,
        help="send this photo, video, voice note or document instead of a text",
    )
    send.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="after ✓, wait up to this long for ✓✓ and read (default 0: return at ✓)",
    )
    send.set_defaults(func=run_send)

    listen = subparsers.add_parser("listen", help="print messages and ticks as they arrive")
    _add_state_dir(listen)
    listen.add_argument("--read", action="store_true", help="send read receipts")
    listen.add_argument(
        "--count", type=int, help="exit after this many messages (default: run until Ctrl-C)"
    )
    listen.add_argument(
        "--timeout", type=float, help="exit after this many seconds without an event"
    )
    _add_media_options(listen)
    listen.add_argument(
        "--download-dir",
        type=Path,
        help="download, verify and decrypt received attachments into this directory",
    )
    listen.set_defaults(func=run_listen)


def _add_media_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--media-url", help="media service URL (default: $CIPHERPOST_MEDIA_URL)")
    parser.add_argument(
        "--media-token",
        help=(
            "upload token for --file (default: $CIPHERPOST_MEDIA_TOKEN, "
            "else one minted by the gateway)"
        ),
    )


def _run(name: str, coroutine: Coroutine[Any, Any, None]) -> int:
    """Run a command; report a missing or existing state directory in one line."""
    try:
        asyncio.run(coroutine)
    except (FileNotFoundError, FileExistsError) as error:
        print(f"cipherpost {name}: {error}", file=sys.stderr)
        return 1
    except ConnectionRefusedError as error:
        print(
            f"cipherpost {name}: {error}; check that the gateway is running at that address",
            file=sys.stderr,
        )
        return 1
    return 0


# Length of the gateway's Noise static public key (X25519), in bytes.
GATEWAY_KEY_BYTES = 32


def run_register(args: argparse.Namespace) -> int:
    key = None
    if args.gateway_key:
        try:
            key = bytes.fromhex(args.gateway_key)
        except ValueError:
            key = b""
        if len(key) != GATEWAY_KEY_BYTES:
            print(
                f"cipherpost register: --gateway-key {args.gateway_key[:80]!r} is invalid; give "
                f"the {2 * GATEWAY_KEY_BYTES} hex digits the gateway prints at start",
                file=sys.stderr,
            )
            return 2

    async def register() -> None:
        client = await Client.register(
            args.state_dir, args.host, args.port, args.user, args.token, key
        )
        print(f"registered {client.user} device {client.device_id} in {args.state_dir}")
        await client.close()

    return _run("register", register())


def run_send(args: argparse.Namespace) -> int:
    if (args.text is None) == (args.file is None):
        print("cipherpost send: give either a message text or --file PATH", file=sys.stderr)
        return 2

    async def send() -> None:
        client = await Client.open(args.state_dir)
        try:
            if args.file is not None:
                message_id = await _send_file(client, args)
            else:
                message_id = await client.send_text(args.user, args.text)
            print(f"{TICK_MARKS[Status.SENT]} {message_id.hex()} to {args.user}")
            await _print_ticks(client, message_id, args.wait)
        finally:
            await client.close()

    return _run("send", send())


async def _print_ticks(client: Client, message_id: bytes, wait: float) -> None:
    """Print each tick after ✓ once and in order, until read, expired or `wait` seconds.

    The events are the source, not `client.tick()`: the tick state moves on before its queued
    events are printed, and DELIVERED and READ often arrive together. A READ that arrives
    without a DELIVERED first still prints ✓✓ before it.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    printed = Status.SENT
    while printed < Status.READ and loop.time() < deadline:
        try:
            event = await client.next_event(deadline - loop.time())
        except TimeoutError:
            break
        if not isinstance(event, TickChanged) or event.message_id != message_id:
            continue
        if event.status == Status.EXPIRED:
            print(f"{TICK_MARKS[Status.EXPIRED]} {message_id.hex()}", flush=True)
            break
        for status in range(printed + 1, event.status + 1):
            print(f"{TICK_MARKS[Status(status)]} {message_id.hex()}", flush=True)
        printed = max(printed, event.status)


def run_listen(args: argparse.Namespace) -> int:
    if args.count is not None and args.count < 1:
        print(f"cipherpost listen: --count {args.count} must be 1 or more", file=sys.stderr)
        return 2

    async def listen() -> None:
        client = await Client.open(args.state_dir)
        received = 0
        try:
            while args.count is None or received < args.count:
                try:
                    event = await client.next_event(args.timeout)
                except TimeoutError:
                    break
                if isinstance(event, MessageReceived):
                    received += 1
                    arrow = f"(you → {event.conversation})" if event.outgoing else event.sender
                    print(f"{arrow}: {await _show_text(event.text, args)}", flush=True)
                    if args.read:
                        await client.mark_read(event)
                elif isinstance(event, TickChanged):
                    print(f"{TICK_MARKS[event.status]} {event.message_id.hex()} ({event.peer})")
                elif isinstance(event, CaughtUp):
                    print("-- caught up --", flush=True)
                elif isinstance(event, ConnectionLost) and not event.will_reconnect:
                    print(f"disconnected: {event.reason}")
                    break
        finally:
            await client.close()

    return _run("listen", listen())


async def _send_file(client: Client, args: argparse.Namespace) -> bytes:
    from cipherpost.media.progress import transfer_progress
    from cipherpost.media.sending import MEDIA_TOKEN_ENV, media_url_from, send_media

    media_url = media_url_from(args.media_url)
    # An explicit token wins; otherwise the gateway mints one for this device.
    token = args.media_token or os.environ.get(MEDIA_TOKEN_ENV)
    if not token:
        token = await client.media_upload_token()
    with transfer_progress(f"uploading {args.file.name}") as progress:
        message_id, _ = await send_media(
            client,
            args.user,
            args.file,
            media_url=media_url,
            token=token,
            progress=progress,
        )
    return message_id


async def _show_text(text: str, args: argparse.Namespace) -> str:
    """Return how to print a received text; attachments are saved when --download-dir is set."""
    from cipherpost.exceptions import MediaError
    from cipherpost.media.progress import transfer_progress
    from cipherpost.media.sending import describe, media_message_in, media_url_from, save_media

    message = media_message_in(text)
    if message is None:
        return text
    if args.download_dir is None:
        return f"[{describe(message)}] (use --download-dir to save it)"
    try:
        with transfer_progress(f"downloading {message.media_type}") as progress:
            path = await save_media(
                message,
                args.download_dir,
                media_url=media_url_from(args.media_url),
                progress=progress,
            )
    except MediaError as error:
        # One bad attachment must not stop the listener; nothing was saved for it.
        return f"[{describe(message)}] not saved: {error}"
    return f"[{describe(message)}] saved to {path}"
