"""Gateway configuration from defaults, a TOML file, CIPHERPOST_* environment variables and
command-line options, in increasing order of precedence."""

from __future__ import annotations

import math
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

# Queued envelopes expire after 30 days, as Signal-Server's sample configuration does.
DEFAULT_QUEUE_TTL_S = 30 * 24 * 3600
# NOTE: a guess. Enough for weeks of ordinary chat to one offline device, small enough that
# one device cannot fill the disk (10,000 maximum-size envelopes are about 1 GiB).
DEFAULT_QUEUE_MAX_LENGTH = 10_000
# Typing indicators and call candidates are useless after a minute.
DEFAULT_EPHEMERAL_TTL_S = 60
# How often expired envelopes are deleted and their senders notified. Delivery never waits for
# this sweep, because queue reads skip expired envelopes.
DEFAULT_EXPIRY_SWEEP_S = 60.0
# NOTE: guessed keepalive values, in the range of mobile NAT idle timeouts (about 30 s or more).
DEFAULT_KEEPALIVE_INTERVAL_S = 30.0
DEFAULT_KEEPALIVE_TIMEOUT_S = 30.0
# NOTE: a guess; one push per device per interval keeps a busy chat from sending many pushes.
DEFAULT_PUSH_INTERVAL_S = 30.0
DEFAULT_PUSH_RETRY_BASE_S = 1.0
# Rate limits as "BUCKET/SECONDS": a token bucket of BUCKET tokens refilled in SECONDS.
# Messages per sender -> recipient pair: bucket of 60, refilling 1 per second (Signal-Server).
DEFAULT_MESSAGE_RATE_LIMIT = "60/60"
# Prekey bundle claims per requesting device: 6 per 10 minutes (Signal-Server).
DEFAULT_PREKEY_CLAIM_RATE_LIMIT = "6/600"
# NOTE: guessed; Signal-Server limits registration per phone number, which has no equivalent.
DEFAULT_REGISTRATION_RATE_LIMIT = "20/3600"
# NOTE: guessed; generous for clients behind one NAT address, tight for a reconnect storm.
DEFAULT_CONNECTION_RATE_LIMIT = "120/60"
# Largest blob an upload token allows: 100 MiB, the media service's own default limit.
DEFAULT_MEDIA_MAX_UPLOAD_BYTES = 100 * 1024 * 1024

# Log levels of the `logging` module that log_level accepts, in any letter case.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


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
    # Offline queues, keepalive, push, rate limits and metrics; see docs/operations.md.
    queue_ttl_s: int = DEFAULT_QUEUE_TTL_S
    queue_max_length: int = DEFAULT_QUEUE_MAX_LENGTH
    ephemeral_ttl_s: int = DEFAULT_EPHEMERAL_TTL_S
    expiry_sweep_s: float = DEFAULT_EXPIRY_SWEEP_S
    keepalive_interval_s: float = DEFAULT_KEEPALIVE_INTERVAL_S
    keepalive_timeout_s: float = DEFAULT_KEEPALIVE_TIMEOUT_S
    # Webhook URL for push notifications to offline devices; empty disables push.
    push_url: str = ""
    push_interval_s: float = DEFAULT_PUSH_INTERVAL_S
    push_retry_base_s: float = DEFAULT_PUSH_RETRY_BASE_S
    # "on" or "off" for every rate limit; each limit is "BUCKET/SECONDS" or "off".
    rate_limits: str = "on"
    message_rate_limit: str = DEFAULT_MESSAGE_RATE_LIMIT
    prekey_claim_rate_limit: str = DEFAULT_PREKEY_CLAIM_RATE_LIMIT
    registration_rate_limit: str = DEFAULT_REGISTRATION_RATE_LIMIT
    connection_rate_limit: str = DEFAULT_CONNECTION_RATE_LIMIT
    # Port of the Prometheus /metrics endpoint on `host`; 0 disables it.
    metrics_port: int = 0
    # Data directory of the media service, whose upload token secret the gateway reads to mint
    # tokens for MEDIA_TOKEN requests; empty disables them.
    media_data_dir: str = ""
    media_max_upload_bytes: int = DEFAULT_MEDIA_MAX_UPLOAD_BYTES

    def validate(self) -> GatewayConfig:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is outside 0..65535")
        if self.registration not in REGISTRATION_MODES:
            raise ValueError(
                f"registration {self.registration!r} is not one of {REGISTRATION_MODES}"
            )
        if self.storage not in STORAGE_KINDS:
            raise ValueError(f"storage {self.storage!r} is not one of {STORAGE_KINDS}")
        if self.log_level.upper() not in LOG_LEVELS:
            raise ValueError(f"log_level {self.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
        if self.sqlite_synchronous.upper() not in ("FULL", "NORMAL"):
            raise ValueError(
                f"sqlite_synchronous {self.sqlite_synchronous!r} must be FULL or NORMAL"
            )
        _validate_operations(self)
        return self

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)


def _validate_operations(config: GatewayConfig) -> None:
    from cipherpost.gateway.ratelimit import parse_rate

    positive = (
        "queue_ttl_s",
        "queue_max_length",
        "ephemeral_ttl_s",
        "expiry_sweep_s",
        "keepalive_interval_s",
        "keepalive_timeout_s",
        "push_interval_s",
        "push_retry_base_s",
        "media_max_upload_bytes",
    )
    for name in positive:
        if getattr(config, name) <= 0:
            raise ValueError(f"{name} {getattr(config, name)!r} must be greater than zero")
    if not 0 <= config.metrics_port <= 65535:
        raise ValueError(f"metrics_port {config.metrics_port} is outside 0..65535 (0 disables)")
    if config.rate_limits not in ("on", "off"):
        raise ValueError(f"rate_limits {config.rate_limits!r} must be on or off")
    for name in RATE_LIMIT_SETTINGS:
        parse_rate(name, getattr(config, name))
    if config.push_url and not config.push_url.startswith(("http://", "https://")):
        raise ValueError(f"push_url {config.push_url!r} must be an http:// or https:// URL")


RATE_LIMIT_SETTINGS = (
    "message_rate_limit",
    "prekey_claim_rate_limit",
    "registration_rate_limit",
    "connection_rate_limit",
)
_INT_SETTINGS = frozenset(
    {
        "port",
        "queue_ttl_s",
        "queue_max_length",
        "ephemeral_ttl_s",
        "metrics_port",
        "media_max_upload_bytes",
    }
)
_FLOAT_SETTINGS = frozenset(
    {
        "expiry_sweep_s",
        "keepalive_interval_s",
        "keepalive_timeout_s",
        "push_interval_s",
        "push_retry_base_s",
    }
)


def _coerce(name: str, value: Any) -> Any:
    """Convert a setting from TOML, the environment or an option to its type.

    TOML booleans, fractional integers and NaN or infinite numbers raise ValueError: int()
    and float() would accept them and turn `port = true` into port 1, or 0.5 into 0.
    """
    if name in _INT_SETTINGS:
        return _coerce_int(name, value)
    if name in _FLOAT_SETTINGS:
        return _coerce_float(name, value)
    if not isinstance(value, str):
        raise ValueError(f"setting {name!r} must be a string, got {value!r}")  # noqa: TRY004
    return value


def _coerce_int(name: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{name} {value!r} is not an integer; give a whole number such as 30")


def _coerce_float(name: str, value: Any) -> float:
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise ValueError(f"{name} {value!r} is not a number; give a finite number such as 30")
    return number


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
