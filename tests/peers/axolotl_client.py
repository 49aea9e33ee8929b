"""Drive a python-axolotl device (axolotl_peer.py) in `.venv-axolotl` from the main environment.

Used by the interop tests and the benchmarks. `ci/axolotl-venv.sh` creates the environment.
"""

from __future__ import annotations

import json
import select
import subprocess
from pathlib import Path
from typing import Any, Self

REPO_ROOT = Path(__file__).resolve().parents[2]
AXOLOTL_PYTHON = REPO_ROOT / ".venv-axolotl" / "bin" / "python"
PEER_SCRIPT = Path(__file__).with_name("axolotl_peer.py")

# A request that takes longer than this is treated as a hung peer. Benchmark batches are sized
# to finish in a few seconds on a 2-vCPU machine.
REQUEST_TIMEOUT_S = 120.0


class PeerError(Exception):
    """python-axolotl raised an exception; `error` is its class name."""

    def __init__(self, error: str, message: str, peer_traceback: str) -> None:
        super().__init__(f"{error}: {message}\n--- peer traceback ---\n{peer_traceback}")
        self.error = error
        self.message = message


def axolotl_available() -> bool:
    return AXOLOTL_PYTHON.exists()


class AxolotlPeer:
    """One python-axolotl device in its own process."""

    def __init__(self) -> None:
        if not axolotl_available():
            raise RuntimeError(
                f"{AXOLOTL_PYTHON} is missing; run ci/axolotl-venv.sh to create .venv-axolotl"
            )
        self._process = subprocess.Popen(
            [str(AXOLOTL_PYTHON), str(PEER_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def close(self) -> None:
        if self._process.poll() is None:
            assert self._process.stdin is not None
            try:
                self._process.stdin.write('{"op": "exit"}\n')
                self._process.stdin.flush()
            except BrokenPipeError:
                pass
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self._process.stdin.flush()
        # One request is in flight at a time, so the reader's buffer is empty here and select()
        # on the pipe returns as soon as the response arrives.
        ready, _, _ = select.select([self._process.stdout], [], [], REQUEST_TIMEOUT_S)
        if not ready:
            self._process.kill()
            raise TimeoutError(
                f"python-axolotl peer sent no response to {op!r} in {REQUEST_TIMEOUT_S} s"
            )
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"python-axolotl peer exited (code {self._process.poll()})")
        response = json.loads(line)
        if not response["ok"]:
            raise PeerError(response["error"], response["message"], response["traceback"])
        result: dict[str, Any] = response["result"]
        return result

    # --- typed helpers -----------------------------------------------------------------------

    def identity(self) -> tuple[bytes, int]:
        result = self.request("identity")
        return bytes.fromhex(result["identity_key"]), int(result["registration_id"])

    def generate_bundle(
        self, device_id: int, signed_prekey_id: int, prekey_id: int | None
    ) -> dict[str, Any]:
        return self.request(
            "generate_bundle",
            device_id=device_id,
            signed_prekey_id=signed_prekey_id,
            prekey_id=prekey_id,
        )

    def process_bundle(self, name: str, device_id: int, bundle: dict[str, Any]) -> None:
        self.request("process_bundle", name=name, device_id=device_id, bundle=bundle)

    def encrypt(self, name: str, device_id: int, plaintext: bytes) -> tuple[int, bytes]:
        result = self.request("encrypt", name=name, device_id=device_id, plaintext=plaintext.hex())
        return int(result["type"]), bytes.fromhex(result["body"])

    def decrypt(self, name: str, device_id: int, message_type: int, body: bytes) -> bytes:
        result = self.request(
            "decrypt", name=name, device_id=device_id, type=message_type, body=body.hex()
        )
        return bytes.fromhex(result["plaintext"])

    def sign(self, message: bytes) -> bytes:
        """Sign with the peer's identity key (XEdDSA as python-axolotl implements it)."""
        return bytes.fromhex(self.request("sign", message=message.hex())["signature"])

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        result = self.request(
            "verify", public_key=public_key.hex(), message=message.hex(), signature=signature.hex()
        )
        return bool(result["valid"])

    def group_create(self, group_id: str, name: str, device_id: int) -> bytes:
        result = self.request("group_create", group_id=group_id, name=name, device_id=device_id)
        return bytes.fromhex(result["message"])

    def group_process(self, group_id: str, name: str, device_id: int, message: bytes) -> None:
        self.request(
            "group_process",
            group_id=group_id,
            name=name,
            device_id=device_id,
            message=message.hex(),
        )

    def group_encrypt(self, group_id: str, name: str, device_id: int, plaintext: bytes) -> bytes:
        result = self.request(
            "group_encrypt",
            group_id=group_id,
            name=name,
            device_id=device_id,
            plaintext=plaintext.hex(),
        )
        return bytes.fromhex(result["body"])

    def group_decrypt(self, group_id: str, name: str, device_id: int, body: bytes) -> bytes:
        result = self.request(
            "group_decrypt", group_id=group_id, name=name, device_id=device_id, body=body.hex()
        )
        return bytes.fromhex(result["plaintext"])

    def bench(self, work: str, count: int, size: int = 100) -> float:
        """Run `count` units of `work` inside the peer; return the seconds it measured."""
        result = self.request("bench", work=work, count=count, size=size)
        return float(result["seconds"])
