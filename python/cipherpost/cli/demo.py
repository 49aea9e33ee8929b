"""`cipherpost demo`: an embedded gateway, two users with three devices, and what happens."""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
from pathlib import Path

from cipherpost.client import CaughtUp, Client, ClientEvent, MessageReceived, TickChanged
from cipherpost.gateway.config import GatewayConfig
from cipherpost.protocol.frames import Status

# Seconds to wait for any one step; the whole demo takes a few seconds on a laptop.
STEP_TIMEOUT = 15.0


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run a gateway and three devices locally and show a conversation",
        description=(
            "Start a gateway on a free loopback port with a temporary data directory, register "
            "alice (phone and laptop) and bob (phone), and print each step: ✓, ✓✓, read, an "
            "offline device catching up, and both users' safety numbers."
        ),
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.debug:
        logging.getLogger().setLevel(logging.WARNING)
    import uvloop

    with tempfile.TemporaryDirectory(prefix="cipherpost-demo-") as directory:
        uvloop.run(demo(Path(directory)))
    return 0


def say(text: str) -> None:
    print(text, flush=True)


async def wait_for(client: Client, kind: type, **fields: object) -> ClientEvent:
    """Return the next event of `kind` whose attributes equal `fields`."""
    while True:
        event = await client.next_event(STEP_TIMEOUT)
        if isinstance(event, kind) and all(getattr(event, k) == v for k, v in fields.items()):
            return event


async def demo(directory: Path) -> None:
    from cipherpost.gateway.server import serve

    config = GatewayConfig(port=0, data_dir=str(directory / "gateway"))
    ready: asyncio.Future[tuple[str, int, bytes]] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    gateway = asyncio.create_task(
        serve(config, lambda host, port, key: ready.set_result((host, port, key)), stop)
    )
    host, port, key = await asyncio.wait_for(ready, STEP_TIMEOUT)
    say(f"gateway   listening on {host}:{port} (Noise key {key.hex()[:16]}…, SQLite in a temp dir)")

    try:
        await conversation(directory, host, port, key)
    finally:
        stop.set()
        await gateway
    say("gateway   stopped")


async def conversation(directory: Path, host: str, port: int, key: bytes) -> None:
    alice = await Client.register(directory / "alice-phone", host, port, "alice", gateway_key=key)
    say("alice     registered her phone (device 1) and uploaded 100 one-time prekeys")
    code = await alice.create_link_code()
    laptop = await Client.link(
        directory / "alice-laptop",
        host,
        port,
        "alice",
        code,
        alice.crypto.identity_key_pair,
        gateway_key=key,
    )
    say(f"alice     linked her laptop (device {laptop.device_id}) with a one-time link code")
    bob = await Client.register(directory / "bob-phone", host, port, "bob", gateway_key=key)
    say("bob       registered his phone (device 1)")
    say("")

    message_id = await alice.send_text("bob", "Hi Bob! Lunch at noon?")
    say("alice →   bob: 'Hi Bob! Lunch at noon?'   ✓  stored by the gateway")
    received = await wait_for(bob, MessageReceived, message_id=message_id)
    assert isinstance(received, MessageReceived)
    say(f"bob       got '{received.text}' from {received.sender} (prekey message, new session)")
    await wait_for(alice, TickChanged, message_id=message_id, status=Status.DELIVERED)
    say("alice     ✓✓ delivered to bob's phone")
    copy = await wait_for(laptop, MessageReceived, message_id=message_id)
    assert isinstance(copy, MessageReceived)
    say(f"laptop    shows alice's own message to {copy.conversation}: '{copy.text}'")
    await bob.mark_read(received)
    await wait_for(alice, TickChanged, message_id=message_id, status=Status.READ)
    say("alice     read: bob opened the message")
    say("")

    reply_id = await bob.send_text("alice", "Sure, see you there.")
    say("bob   →   alice: 'Sure, see you there.'   ✓")
    for device, name in ((alice, "phone "), (laptop, "laptop")):
        event = await wait_for(device, MessageReceived, message_id=reply_id)
        assert isinstance(event, MessageReceived)
        say(f"alice {name} got '{event.text}' from {event.sender}")
    await wait_for(bob, TickChanged, message_id=reply_id, status=Status.DELIVERED)
    say("bob       ✓✓ delivered (first of alice's two devices to acknowledge)")
    say("")

    await laptop.close()
    say("laptop    goes offline")
    texts = ["Running 5 min late", "Got us a table by the window", "Ordered you a coffee"]
    for text in texts:
        await bob.send_text("alice", text)
        say(f"bob   →   alice: '{text}'   ✓  (queued for the laptop)")
    laptop = await Client.open(directory / "alice-laptop")
    say("laptop    reconnects and catches up:")
    while True:
        event = await laptop.next_event(STEP_TIMEOUT)
        if isinstance(event, MessageReceived):
            say(f"            '{event.text}' from {event.sender}")
        elif isinstance(event, CaughtUp):
            break
    say("laptop    caught up; new messages now arrive live")
    say("")

    alice_view = alice.safety_number("bob")
    bob_view = bob.safety_number("alice")
    say(f"safety number on alice's phone for bob:  {alice_view}")
    say(f"safety number on bob's phone for alice:  {bob_view}")
    say(
        "they match: compare them in person to rule out a man in the middle"
        if alice_view == bob_view
        else "they DIFFER: do not trust this conversation"
    )

    for client in (alice, laptop, bob):
        await client.close()
