"""Media cipher throughput and memory: cipherpost's Rust pipeline against a Python pipeline.

Both sides do the same work on the same file in the same run: encryption reads the file,
hashes the plaintext (SHA-256), encrypts it (AES-256-CBC, PKCS#7), computes HMAC-SHA256 over
IV ‖ ciphertext and SHA-256 of the blob, and writes the blob; decryption reads the blob, hashes
it, checks the MAC, decrypts, unpads, hashes the plaintext, writes it to a temporary file and
renames it after the checks. The Python side uses pyca/cryptography (OpenSSL) and hashlib/hmac
with 1 MiB reads into preallocated buffers. Runs alternate between the two sides so that load from other processes hits
both alike.

    python bench/media/bench_media.py --size-mib 256 --rounds 7 --dir /dev/shm
    python bench/media/bench_media.py --memory --size-mib 1024 --dir /dev/shm

A tmpfs scratch directory (`/dev/shm`) keeps the disk out of the measurement.

Peak memory is measured in a fresh subprocess per operation: VmHWM (peak resident set) after
the operation minus VmRSS before it, both from /proc/self/status.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cipherpost.media import decrypt_file, derive_media_keys, encrypt_file
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

MEDIA_TYPE = "document"
KEY = bytes(range(32))
READ_SIZE = 1024 * 1024
MIB = 1024 * 1024


def python_encrypt(source: Path, target: Path) -> tuple[bytes, bytes]:
    """Encrypt as a careful Python program would: preallocated buffers, `readinto` and
    `update_into`, padding only the last chunk. (`update`, which allocates its output, runs
    at about half the speed here.)"""
    iv, cipher_key, mac_key, _ = derive_media_keys(MEDIA_TYPE, KEY)
    encryptor = Cipher(algorithms.AES(cipher_key), modes.CBC(iv)).encryptor()
    plain_hash = hashlib.sha256()
    blob_hash = hashlib.sha256()
    mac = hmac.new(mac_key, iv, hashlib.sha256)
    buffer = bytearray(READ_SIZE + 16)
    output = bytearray(READ_SIZE + 32)
    view, out_view = memoryview(buffer), memoryview(output)
    with open(source, "rb") as reader, open(target, "wb") as writer:
        while True:
            count = reader.readinto(view[:READ_SIZE])
            last = count < READ_SIZE
            plain_hash.update(view[:count])
            length = count
            if last:
                pad = 16 - count % 16
                view[count : count + pad] = bytes([pad]) * pad
                length += pad
            written = encryptor.update_into(view[:length], output)
            ciphertext = out_view[:written]
            mac.update(ciphertext)
            blob_hash.update(ciphertext)
            writer.write(ciphertext)
            if last:
                break
        encryptor.finalize()
        tag = mac.digest()[:10]
        blob_hash.update(tag)
        writer.write(tag)
    return plain_hash.digest(), blob_hash.digest()


def python_decrypt(source: Path, target: Path, enc_sha256: bytes, sha256: bytes) -> None:
    """Decrypt with the same care: hash the blob, check the MAC, decrypt into a preallocated
    buffer, unpad, hash the plaintext, write to a temporary file, rename after the checks."""
    iv, cipher_key, mac_key, _ = derive_media_keys(MEDIA_TYPE, KEY)
    decryptor = Cipher(algorithms.AES(cipher_key), modes.CBC(iv)).decryptor()
    blob_hash = hashlib.sha256()
    plain_hash = hashlib.sha256()
    mac = hmac.new(mac_key, iv, hashlib.sha256)
    ciphertext_length = source.stat().st_size - 10
    temporary = target.with_name(f".{target.name}.part")
    buffer = bytearray(READ_SIZE)
    output = bytearray(READ_SIZE + 32)
    view, out_view = memoryview(buffer), memoryview(output)
    tag = b""
    padding_ok = False
    with open(source, "rb") as reader, open(temporary, "wb") as writer:
        offset = 0
        while count := reader.readinto(view):
            blob_hash.update(view[:count])
            cipher_count = max(0, min(count, ciphertext_length - offset))
            tag += bytes(view[cipher_count:count])
            ciphertext = view[:cipher_count]
            mac.update(ciphertext)
            written = decryptor.update_into(ciphertext, output)
            offset += count
            if offset >= ciphertext_length and written:
                pad = output[written - 1]
                padding_ok = (
                    1 <= pad <= 16 and output[written - pad : written] == bytes([pad]) * pad
                )
                written -= pad if padding_ok else 0
            plain = out_view[:written]
            plain_hash.update(plain)
            writer.write(plain)
        decryptor.finalize()
        writer.flush()
        os.fsync(writer.fileno())
    checks = (
        blob_hash.digest() == enc_sha256,
        hmac.compare_digest(mac.digest()[:10], tag),
        padding_ok,
        plain_hash.digest() == sha256,
    )
    if not all(checks):
        temporary.unlink()
        raise RuntimeError(f"Python pipeline check failed: {checks}")
    os.replace(temporary, target)


def cipherpost_encrypt(source: Path, target: Path) -> tuple[bytes, bytes]:
    result = encrypt_file(source, target, MEDIA_TYPE, KEY, sidecar=False)
    return result.file_sha256, result.file_enc_sha256


def cipherpost_decrypt(source: Path, target: Path, enc_sha256: bytes, sha256: bytes) -> None:
    decrypt_file(source, target, MEDIA_TYPE, KEY, enc_sha256, sha256)


def cpu_seconds() -> float:
    """CPU time of this process, all threads, user plus system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(action: Callable[[], object]) -> tuple[float, float]:
    """Run `action`; return (wall seconds, CPU seconds)."""
    cpu_start = cpu_seconds()
    start = time.perf_counter()
    action()
    return time.perf_counter() - start, cpu_seconds() - cpu_start


def make_input(directory: Path, size: int) -> Path:
    path = directory / "plain.bin"
    with open(path, "wb") as handle:
        block = os.urandom(MIB)
        handle.writelines(block for _ in range(size // MIB))
        handle.write(os.urandom(size % MIB))
    return path


def throughput(size_mib: int, rounds: int, directory: Path) -> dict[str, object]:
    size = size_mib * MIB
    source = make_input(directory, size)
    plain_sha, enc_sha = cipherpost_encrypt(source, directory / "blob.rs")
    reference = python_encrypt(source, directory / "blob.py")
    assert reference == (plain_sha, enc_sha), "both pipelines must produce the same blob"

    names = ("python_encrypt", "cipherpost_encrypt", "python_decrypt", "cipherpost_decrypt")
    walls: dict[str, list[float]] = {name: [] for name in names}
    cpus: dict[str, list[float]] = {name: [] for name in names}
    actions: dict[str, Callable[[], object]] = {
        "python_encrypt": lambda: python_encrypt(source, directory / "b1"),
        "cipherpost_encrypt": lambda: cipherpost_encrypt(source, directory / "b2"),
        "python_decrypt": lambda: python_decrypt(
            directory / "blob.py", directory / "p1", enc_sha, plain_sha
        ),
        "cipherpost_decrypt": lambda: cipherpost_decrypt(
            directory / "blob.rs", directory / "p2", enc_sha, plain_sha
        ),
    }
    for _ in range(rounds):
        for name in names:
            wall, cpu = timed(actions[name])
            walls[name].append(wall)
            cpus[name].append(cpu)
        for leftover in ("b1", "b2", "p1", "p2"):
            (directory / leftover).unlink()
    # Best of the rounds shows what the code achieves when other processes leave the cores
    # alone; the median shows what a shared machine gave it.
    rates = {name: size / min(values) / MIB for name, values in walls.items()}
    median_rates = {name: size / statistics.median(values) / MIB for name, values in walls.items()}
    cpu_per_gib = {
        name: round(statistics.median(values) * 1024 / size_mib, 2) for name, values in cpus.items()
    }
    return {
        "size_mib": size_mib,
        "rounds": rounds,
        "best_mib_per_s": {name: round(rate) for name, rate in rates.items()},
        "median_mib_per_s": {name: round(rate) for name, rate in median_rates.items()},
        "cpu_seconds_per_gib": cpu_per_gib,
        "encrypt_speedup_best": round(rates["cipherpost_encrypt"] / rates["python_encrypt"], 2),
        "decrypt_speedup_best": round(rates["cipherpost_decrypt"] / rates["python_decrypt"], 2),
        "encrypt_speedup_median": round(
            median_rates["cipherpost_encrypt"] / median_rates["python_encrypt"], 2
        ),
        "decrypt_speedup_median": round(
            median_rates["cipherpost_decrypt"] / median_rates["python_decrypt"], 2
        ),
    }


def read_status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_child(operation: str, directory: Path) -> None:
    """Run one operation in this (fresh) process and print the RSS growth it caused."""
    source = directory / "plain.bin"
    hashes = json.loads((directory / "hashes.json").read_text())
    enc_sha, plain_sha = bytes.fromhex(hashes["enc"]), bytes.fromhex(hashes["plain"])
    actions: dict[str, Callable[[], object]] = {
        "cipherpost_encrypt": lambda: cipherpost_encrypt(source, directory / "m.blob"),
        "python_encrypt": lambda: python_encrypt(source, directory / "m.blob"),
        "cipherpost_decrypt": lambda: cipherpost_decrypt(
            directory / "blob", directory / "m.out", enc_sha, plain_sha
        ),
        "python_decrypt": lambda: python_decrypt(
            directory / "blob", directory / "m.out", enc_sha, plain_sha
        ),
    }
    before = read_status("VmRSS")
    actions[operation]()
    peak = read_status("VmHWM")
    print(json.dumps({"operation": operation, "rss_growth_bytes": peak - before}))


def memory(size_mib: int, directory: Path) -> dict[str, float]:
    source = make_input(directory, size_mib * MIB)
    plain_sha, enc_sha = cipherpost_encrypt(source, directory / "blob")
    (directory / "hashes.json").write_text(
        json.dumps({"enc": enc_sha.hex(), "plain": plain_sha.hex()})
    )
    growth = {}
    for operation in (
        "cipherpost_encrypt",
        "cipherpost_decrypt",
        "python_encrypt",
        "python_decrypt",
    ):
        output = subprocess.run(
            [sys.executable, __file__, "--memory-child", operation, str(directory)],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        ).stdout
        growth[operation] = round(json.loads(output)["rss_growth_bytes"] / MIB, 2)
    return growth


def describe_machine() -> dict[str, object]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=512, help="test file size in MiB")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per pipeline")
    parser.add_argument("--memory", action="store_true", help="measure peak RSS growth instead")
    parser.add_argument("--dir", help="scratch directory (default: a new temporary directory)")
    parser.add_argument(
        "--memory-child", nargs=2, metavar=("OPERATION", "DIR"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child[0], Path(args.memory_child[1]))
        return
    with tempfile.TemporaryDirectory(prefix="cipherpost-bench-", dir=args.dir) as scratch:
        directory = Path(scratch)
        report: dict[str, object] = {"machine": describe_machine()}
        if args.memory:
            report["rss_growth_mib"] = memory(args.size_mib, directory)
            report["size_mib"] = args.size_mib
        else:
            report.update(throughput(args.size_mib, args.rounds, directory))
        report["load_average_after"] = os.getloadavg()
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
