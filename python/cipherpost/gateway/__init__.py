"""The gateway daemon: Noise-encrypted device connections, routing and store-and-forward."""

from cipherpost.gateway.config import GatewayConfig, load_config
from cipherpost.gateway.server import Gateway, run_gateway

__all__ = ["Gateway", "GatewayConfig", "load_config", "run_gateway"]
