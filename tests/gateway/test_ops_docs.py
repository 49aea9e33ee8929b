"""The operations documents match the code: every setting is documented, and the systemd
unit restarts the daemon on failure."""

from __future__ import annotations

import configparser
from dataclasses import fields
from pathlib import Path

from cipherpost.gateway.config import GatewayConfig

DOCS = Path(__file__).resolve().parents[2] / "docs"
# Settings documented in the README with the daemon's basics rather than in operations.md.
BASIC_SETTINGS = {"host", "port", "data_dir", "registration", "storage", "sqlite_synchronous"}


def test_operations_doc_lists_every_setting() -> None:
    text = (DOCS / "operations.md").read_text()
    for field in fields(GatewayConfig):
        if field.name in BASIC_SETTINGS or field.name == "log_level":
            continue
        assert f"`{field.name}`" in text or f"{field.name} =" in text, field.name


def test_systemd_unit_restarts_on_failure() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DOCS / "cipherpost-gateway.service")
    service = unit["Service"]
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    assert " gateway " in service["ExecStart"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"
