"""Gateway configuration from defaults, a TOML file, CIPHERPOST_* environment variables and
command-line options, in increasing order of precedence."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_HOST = "127.0.0.1"
# NOTE: an arbitrary unassigned port; any free port works, and 0 lets the OS pick one.
DEFAULT_PORT = 7733
DEFAULT_DATA_DIR = "cipherpost-gateway"
ENV_PREFIX = "CIPHERPOST_"
REGISTRATION_MODES = ("open", "token")
STORAGE_KINDS = ("sqlite", "memory")


@dataclass(frozen=True)
class GatewayConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: str = DEFAULT_DATA_DIR
    # "open": anyone may register; "token": REGISTER must carry a single-use token.
    registration: str = "open"
    # "sqlite" in data_dir (durable), or "memory" (lost on exit; for demos and tests).
    storage: str = "sqlite"
    sqlite_synchronous: str = "FULL"
    log_level: str = "INFO"

    def validate(self) -> GatewayConfig:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is outside 0..65535")
        if self.registration not in REGISTRATION_MODES:
            raise ValueError(
                f"registration {self.registration!r} is not one of {REGISTRATION_MODES}"
            )
        if self.storage not in STORAGE_KINDS:
            raise ValueError(f"storage {self.storage!r} is not one of {STORAGE_KINDS}")
        if self.sqlite_synchronous.upper() not in ("FULL", "NORMAL"):
            raise ValueError(
                f"sqlite_synchronous {self.sqlite_synchronous!r} must be FULL or NORMAL"
            )
        return self

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)


def _coerce(name: str, value: Any) -> Any:
    if name == "port":
        try:
            return int(value)
        except (TypeError, ValueError) as error:
            raise ValueError(f"port {value!r} is not an integer") from error
    if not isinstance(value, str):
        raise ValueError(f"setting {name!r} must be a string, got {value!r}")  # noqa: TRY004
    return value


def load_config(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> GatewayConfig:
    """Build the configuration; raise ValueError naming any unknown or invalid setting."""
    known = {field.name for field in fields(GatewayConfig)}
    values: dict[str, Any] = {}

    if path is not None:
        try:
            with open(path, "rb") as handle:
                document = tomllib.load(handle)
        except OSError as error:
            raise ValueError(f"cannot read config file {str(path)!r}: {error.strerror}") from error
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"config file {str(path)!r} is not valid TOML: {error}") from error
        section = document.get("gateway", document)
        unknown = sorted(set(section) - known)
        if unknown:
            raise ValueError(f"unknown settings {unknown} in {str(path)!r}; known: {sorted(known)}")
        values.update({name: _coerce(name, value) for name, value in section.items()})

    environ = os.environ if environ is None else environ
    for name in known:
        variable = ENV_PREFIX + name.upper()
        if variable in environ:
            values[name] = _coerce(name, environ[variable])

    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = _coerce(name, value)

    return replace(GatewayConfig(), **values).validate()
