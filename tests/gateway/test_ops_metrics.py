"""The Prometheus endpoint on its own port, after real traffic."""

from __future__ import annotations

from pathlib import Path

import pytest
from cipherpost.exceptions import GatewayError
from cipherpost.protocol.frames import Kind

from .conftest import register
from .helpers import envelope_to, new_message_id, receive_texts
from .ops import free_port, scrape, start_gateway
from .test_prekeys import upload


async def test_metrics_after_traffic(tmp_path: Path) -> None:
    metrics_port = free_port()
    gateway = start_gateway(
        tmp_path, metrics_port=metrics_port, queue_max_length=2, rate_limits="off"
    )
    try:
        alice = await register(gateway, "alice")
        bob = await register(gateway, "bob")
        carol = await register(gateway, "carol")
        assert await upload(alice, 30) == 30  # above the low water of 20
        await carol.connection.close()
        await alice.connection.send_envelopes(new_message_id(), envelope_to("bob", [1], b"a"))
        assert await receive_texts(bob.connection, 1) == [b"a"]
        for text in (b"1", b"2"):
            await alice.connection.send_envelopes(new_message_id(), envelope_to("carol", [1], text))
        with pytest.raises(GatewayError):
            await alice.connection.send_envelopes(new_message_id(), envelope_to("carol", [1], b"3"))
        await bob.connection.request(Kind.PREKEY_COUNT)  # a round trip: the ACK is stored

        samples = await scrape(metrics_port)
        assert samples["cipherpost_connections"] == 2
        assert samples["cipherpost_authenticated_connections"] == 2
        assert samples["cipherpost_connections_opened_total"] == 3
        assert samples["cipherpost_messages_stored_total"] == 3
        assert samples["cipherpost_messages_delivered_total"] >= 1
        assert samples["cipherpost_messages_rejected_total"] == 1
        assert samples["cipherpost_queue_full_rejections_total"] == 1
        assert samples["cipherpost_queue_depth_total"] == 2
        assert samples["cipherpost_queue_depth_max"] == 2
        assert samples["cipherpost_devices_low_prekeys"] == 2  # bob and carol have none
        assert samples["cipherpost_frames_in_total"] >= 8
        assert samples["cipherpost_frames_out_total"] >= 8
        assert samples["cipherpost_pushes_sent_total"] == 0
        assert samples["cipherpost_rate_limit_rejections_total{limit=connection_rate_limit}"] == 0
        await alice.connection.close()
        await bob.connection.close()
    finally:
        gateway.stop()
