"""The Prometheus /metrics endpoint, served by aiohttp on its own port.

Hot-path counters are plain integers on the gateway objects, read only when Prometheus
scrapes, so counting costs one integer addition per frame. Queue depths and prekey stock
come from one store query per scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from cipherpost.gateway.server import Gateway

log = logging.getLogger("cipherpost.gateway.metrics")

PREFIX = "cipherpost_"


class GatewayStats:
    """Counters the gateway increments on its hot paths."""

    __slots__ = (
        "connections_opened",
        "frames_in",
        "frames_out",
        "messages_delivered",
        "messages_rejected",
        "messages_stored",
    )

    def __init__(self) -> None:
        self.connections_opened = 0
        self.frames_in = 0
        self.frames_out = 0
        self.messages_stored = 0  # envelopes queued by SENDs (one per device)
        self.messages_delivered = 0  # envelopes deleted by the device's acknowledgement
        self.messages_rejected = 0  # SENDs answered with an ERROR


class _Collector(Collector):
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.queue_stats = (0, 0, 0)

    def collect(self) -> Iterator[Metric]:
        gateway = self.gateway
        stats = gateway.stats
        total, longest, low = self.queue_stats

        def counter(name: str, text: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(PREFIX + name, text, value=value)

        def gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(PREFIX + name, text, value=value)

        yield gauge("connections", "Open device connections", float(len(gateway.all_connections())))
        yield gauge(
            "authenticated_connections", "Authenticated device connections", len(gateway.presence)
        )
        yield counter("connections_opened", "Accepted TCP connections", stats.connections_opened)
        yield counter("frames_in", "Frames received from devices", stats.frames_in)
        yield counter("frames_out", "Frames queued for devices", stats.frames_out)
        yield counter("messages_stored", "Envelopes stored, one per device", stats.messages_stored)
        yield counter(
            "messages_delivered", "Envelopes acknowledged by devices", stats.messages_delivered
        )
        yield counter("messages_expired", "Queue items deleted by expiry", gateway.queues.expired)
        yield counter("messages_rejected", "SEND requests rejected", stats.messages_rejected)
        yield counter(
            "queue_full_rejections", "SENDs rejected by a full queue", gateway.queues.rejected_full
        )
        yield gauge("queue_depth_total", "Envelopes in all device queues", total)
        yield gauge("queue_depth_max", "Envelopes in the longest device queue", longest)
        yield gauge(
            "devices_low_prekeys", "Devices with fewer one-time prekeys than the low water", low
        )
        push = gateway.push
        yield counter("pushes_sent", "Push webhook calls accepted", push.sent if push else 0)
        yield counter("pushes_failed", "Push webhook calls that failed", push.failed if push else 0)
        yield counter(
            "pushes_given_up", "Pushes dropped after the last retry", push.given_up if push else 0
        )
        rejections = CounterMetricFamily(
            PREFIX + "rate_limit_rejections", "Actions rejected by a rate limit", labels=["limit"]
        )
        for limiter in gateway.limits.all():
            rejections.add_metric([limiter.name], limiter.rejected)
        yield rejections
        yield counter(
            "keepalive_timeouts", "Connections closed by keepalive", gateway.keepalive.timeouts
        )


class MetricsServer:
    def __init__(
        self,
        gateway: Gateway,
        refresh: Callable[[], Awaitable[tuple[int, int, int]]],
    ) -> None:
        self._registry = CollectorRegistry(auto_describe=False)
        self._collector = _Collector(gateway)
        self._registry.register(self._collector)
        self._refresh = refresh
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            self._collector.queue_stats = await self._refresh()
        except Exception as error:  # noqa: BLE001 - a scrape still returns the counters
            log.warning("reading queue statistics for /metrics failed: %s", error)
        return web.Response(
            body=generate_latest(self._registry),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    async def start(self, host: str, port: int) -> int:
        app = web.Application()
        app.router.add_get("/metrics", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only here
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        log.info("metrics on http://%s:%d/metrics", host, self.port)
        return self.port

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
