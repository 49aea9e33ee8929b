"""The prekey service: upload, count, low-water notice, atomic claims, clock skew."""

from __future__ import annotations

import asyncio
import time

import pytest
from cipherpost._core import KeyPair, Rng
from cipherpost._framing import Frame
from cipherpost.exceptions import GatewayError
from cipherpost.protocol.frames import (
    ErrorCode,
    Kind,
    NoticeType,
    b64decode,
    b64encode,
    decode_json,
)

from .conftest import GatewayProcess, RawDevice, register
from .helpers import EVENT_TIMEOUT

HOUR_MS = 60 * 60 * 1000


def signed_prekey(
    device: RawDevice, key_id: int = 1, timestamp_ms: int | None = None
) -> dict[str, object]:
    rng = Rng()
    key_pair = KeyPair.generate(rng)
    return {
        "id": key_id,
        "public_key": b64encode(key_pair.public_key),
        "signature": b64encode(device.identity.sign(key_pair.public_key, rng)),
        "timestamp_ms": int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
    }


def one_time_prekeys(start: int, count: int) -> list[dict[str, object]]:
    rng = Rng()
    return [
        {"id": start + index, "public_key": b64encode(KeyPair.generate(rng).public_key)}
        for index in range(count)
    ]


async def upload(device: RawDevice, count: int, start: int = 1) -> int:
    body = {"signed_prekey": signed_prekey(device), "prekeys": one_time_prekeys(start, count)}
    result = await device.connection.request(Kind.PREKEYS_UPLOAD, body)
    return int(result["count"])


async def test_upload_count_and_claim(gateway: GatewayProcess) -> None:
    alice = await register(gateway, "alice")
    bob = await register(gateway, "bob")
    assert await upload(bob, 100) == 100
    assert (await bob.connection.request(Kind.PREKEY_COUNT))["count"] == 100

    result = await alice.connection.request(Kind.PREKEY_CLAIM, {"user": "bob"})
    (bundle,) = result["bundles"]
    assert bundle["device"] == 1
    assert b64decode(bundle["identity_key"], "identity_key") == bob.identity.public_key
    assert bundle["prekey"]["id"] == 1
    assert (await bob.connection.request(Kind.PREKEY_COUNT))["count"] == 99


async def test_upload_over_limit_rejected(gateway: GatewayProcess) -> None:
    bob = await register(gateway, "bob")
    with pytest.raises(GatewayError) as too_many:
        await upload(bob, 101)
    assert too_many.value.code == ErrorCode.TOO_LARGE
    assert (await bob.connection.request(Kind.PREKEY_COUNT))["count"] == 0


async def test_concurrent_claims_get_distinct_prekeys(gateway: GatewayProcess) -> None:
    bob = await register(gateway, "bob")
    assert await upload(bob, 60) == 60
    claimers = await asyncio.gather(*(register(gateway, f"claimer{i}") for i in range(50)))

    results = await asyncio.gather(
        *(claimer.connection.request(Kind.PREKEY_CLAIM, {"user": "bob"}) for claimer in claimers)
    )
    prekey_ids = [result["bundles"][0]["prekey"]["id"] for result in results]
    assert len(set(prekey_ids)) == 50
    assert (await bob.connection.request(Kind.PREKEY_COUNT))["count"] == 10
    for claimer in claimers:
        await claimer.connection.close()


async def test_claim_without_one_time_prekeys(gateway: GatewayProcess) -> None:
    alice = await register(gateway, "alice")
    bob = await register(gateway, "bob")
    assert await upload(bob, 1) == 1
    first = await alice.connection.request(Kind.PREKEY_CLAIM, {"user": "bob"})
    second = await alice.connection.request(Kind.PREKEY_CLAIM, {"user": "bob"})
    assert first["bundles"][0]["prekey"] is not None
    assert second["bundles"][0]["prekey"] is None
    assert second["bundles"][0]["signed_prekey"]["id"] == 1


async def test_low_prekeys_notice(gateway: GatewayProcess) -> None:
    alice = await register(gateway, "alice")
    bob = await register(gateway, "bob")
    assert await upload(bob, 20) == 20
    await alice.connection.request(Kind.PREKEY_CLAIM, {"user": "bob"})

    # One notice after registration (no prekeys yet), one after the claim left 19.
    counts = []
    while len(counts) < 2:
        event = await bob.connection.next_event(EVENT_TIMEOUT)
        if isinstance(event, Frame) and event.kind == Kind.NOTICE:
            assert event.flags == NoticeType.PREKEYS_LOW
            counts.append(decode_json(event.body)["count"])
    assert counts == [0, 19]


async def test_signed_prekey_clock_skew(gateway: GatewayProcess) -> None:
    bob = await register(gateway, "bob")
    now = int(time.time() * 1000)
    ahead = {"signed_prekey": signed_prekey(bob, 1, now + 23 * HOUR_MS), "prekeys": []}
    await bob.connection.request(Kind.PREKEYS_UPLOAD, ahead)

    too_far = {"signed_prekey": signed_prekey(bob, 2, now + 25 * HOUR_MS), "prekeys": []}
    with pytest.raises(GatewayError) as rejected:
        await bob.connection.request(Kind.PREKEYS_UPLOAD, too_far)
    assert rejected.value.code == ErrorCode.BAD_REQUEST


async def test_signed_prekey_bad_signature_rejected(gateway: GatewayProcess) -> None:
    bob = await register(gateway, "bob")
    mallory = await register(gateway, "mallory")
    forged = {"signed_prekey": signed_prekey(mallory), "prekeys": []}
    with pytest.raises(GatewayError) as rejected:
        await bob.connection.request(Kind.PREKEYS_UPLOAD, forged)
    assert rejected.value.code == ErrorCode.BAD_REQUEST


async def test_claim_names_unregistered_user(gateway: GatewayProcess) -> None:
    alice = await register(gateway, "alice")
    bob = await register(gateway, "bob")

    with pytest.raises(GatewayError) as unknown:
        await alice.connection.request(Kind.PREKEY_CLAIM, {"user": "carol"})
    assert unknown.value.code == ErrorCode.NOT_FOUND
    assert "'carol' is not registered" in str(unknown.value)

    # bob exists but has uploaded no signed prekey yet.
    with pytest.raises(GatewayError) as no_prekey:
        await alice.connection.request(Kind.PREKEY_CLAIM, {"user": bob.user})
    assert no_prekey.value.code == ErrorCode.NOT_FOUND
    assert "no device with a signed prekey" in str(no_prekey.value)
