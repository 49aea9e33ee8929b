"""Helpers for the operations tests: gateways with settings, metrics scrapes, free ports."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from .conftest import GatewayProcess

# Seconds a test waits for a condition that the gateway reaches by itself (an expiry sweep,
# a keepalive timeout, a push retry); generous because the test machine may be loaded.
CONDITION_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def toml_value(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def start_gateway(tmp_path: Path, name: str = "gateway", **settings: object) -> GatewayProcess:
    """Start a daemon with `settings` written to a TOML config file."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / f"{name}.toml"
    config.write_text("".join(f"{key} = {toml_value(value)}\n" for key, value in settings.items()))
    process = GatewayProcess(tmp_path / name, ["--config", str(config)])
    process.start()
    return process


async def scrape(port: int) -> dict[str, float]:
    """Return the samples of http://127.0.0.1:PORT/metrics by name (with labels appended)."""
    url = f"http://127.0.0.1:{port}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        text = await response.text()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return samples


async def wait_for_metric(port: int, name: str, minimum: float) -> dict[str, float]:
    """Scrape until metric `name` reaches `minimum`; fail after CONDITION_TIMEOUT."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CONDITION_TIMEOUT
    while True:
        samples = await scrape(port)
        if samples.get(name, 0) >= minimum:
            return samples
        assert loop.time() < deadline, f"metric {name} stayed below {minimum}: {samples.get(name)}"
        await asyncio.sleep(0.2)
