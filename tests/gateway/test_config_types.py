"""TOML values of the wrong type are rejected, not converted by int() or float()."""

from __future__ import annotations

from pathlib import Path

import pytest
from cipherpost.gateway.config import load_config


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("port = true", "port True is not an integer"),
        ("queue_ttl_s = 0.5", "queue_ttl_s 0.5 is not an integer"),
        ('queue_max_length = "ten"', "queue_max_length 'ten' is not an integer"),
        ('keepalive_timeout_s = "nan"', "keepalive_timeout_s 'nan' is not a number"),
        ('keepalive_interval_s = "inf"', "keepalive_interval_s 'inf' is not a number"),
        ("keepalive_interval_s = inf", "keepalive_interval_s inf is not a number"),
        ("push_interval_s = false", "push_interval_s False is not a number"),
    ],
)
def test_toml_wrong_type_rejected(line: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(line + "\n")
    with pytest.raises(ValueError, match=message):
        load_config(path, environ={})


def test_toml_whole_numbers_accepted(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text("queue_ttl_s = 60.0\nkeepalive_interval_s = 15\nport = 7000\n")
    config = load_config(path, environ={})
    assert config.queue_ttl_s == 60
    assert isinstance(config.queue_ttl_s, int)
    assert config.keepalive_interval_s == 15.0
    assert config.port == 7000


def test_environment_integer_with_spaces() -> None:
    config = load_config(environ={"CIPHERPOST_PORT": " 7001 "})
    assert config.port == 7001
