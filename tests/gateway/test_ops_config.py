"""Operations settings from the environment and TOML, with clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest
from cipherpost.gateway.config import (
    DEFAULT_MESSAGE_RATE_LIMIT,
    DEFAULT_QUEUE_TTL_S,
    load_config,
)


def test_defaults() -> None:
    config = load_config(environ={})
    assert config.queue_ttl_s == DEFAULT_QUEUE_TTL_S == 30 * 24 * 3600
    assert config.message_rate_limit == DEFAULT_MESSAGE_RATE_LIMIT == "60/60"
    assert config.rate_limits == "on"
    assert config.metrics_port == 0
    assert config.push_url == ""


def test_environment_and_file(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('[gateway]\nqueue_max_length = 50\npush_url = "http://127.0.0.1:9/push"\n')
    environ = {"CIPHERPOST_QUEUE_TTL_S": "3600", "CIPHERPOST_KEEPALIVE_TIMEOUT_S": "2.5"}
    config = load_config(path, environ=environ)
    assert config.queue_max_length == 50
    assert config.queue_ttl_s == 3600
    assert config.keepalive_timeout_s == 2.5
    assert config.push_url == "http://127.0.0.1:9/push"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CIPHERPOST_QUEUE_TTL_S", "soon", "queue_ttl_s 'soon' is not an integer"),
        ("CIPHERPOST_QUEUE_MAX_LENGTH", "0", "queue_max_length 0 must be greater than zero"),
        ("CIPHERPOST_KEEPALIVE_INTERVAL_S", "x", "keepalive_interval_s 'x' is not a number"),
        ("CIPHERPOST_RATE_LIMITS", "maybe", "rate_limits 'maybe' must be on or off"),
        ("CIPHERPOST_MESSAGE_RATE_LIMIT", "60", "must be BUCKET/SECONDS"),
        ("CIPHERPOST_PUSH_URL", "ftp://host/x", "must be an http:// or https:// URL"),
        ("CIPHERPOST_METRICS_PORT", "70000", "metrics_port 70000 is outside 0..65535"),
    ],
)
def test_invalid_values_name_the_setting(variable: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_config(environ={variable: value})
