"""Blob storage for the media service: a small interface and its filesystem implementation.

Blobs are immutable and named by their id, the hex SHA-256 of their bytes. Uploads grow a
partial file that becomes the blob by an atomic rename once the whole upload has arrived and
its hash matches, so a reader never sees a half-written blob. A blob's modification time is its
last reference; blobs not referenced for the configured time are deleted.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from cipherpost.exceptions import InvalidMediaArgumentError

_BLOB_ID = re.compile(r"^[0-9a-f]{64}$")


def check_blob_id(blob_id: str) -> str:
    """Return `blob_id` if it is 64 lowercase hex digits, else raise InvalidMediaArgumentError."""
    if not _BLOB_ID.match(blob_id):
        raise InvalidMediaArgumentError(
            f"blob id {blob_id[:80]!r} is invalid; use the hex SHA-256 of the encrypted file "
            "(64 lowercase hex digits)"
        )
    return blob_id


@dataclass(frozen=True, slots=True)
class BlobInfo:
    size: int
    #: Unix time of the last upload or reference.
    referenced_at: float


class BlobStore(Protocol):
    """Storage of complete blobs and of partial uploads. Methods block; the service calls them
    from worker threads."""

    def stat_blob(self, blob_id: str) -> BlobInfo | None: ...
    def open_blob(self, blob_id: str) -> BinaryIO: ...
    def touch_blob(self, blob_id: str, now: float) -> None: ...
    def delete_blob(self, blob_id: str) -> None: ...
    def partial_size(self, blob_id: str) -> int: ...
    def open_partial(self, blob_id: str, offset: int) -> BinaryIO: ...
    def read_partial(self, blob_id: str) -> BinaryIO: ...
    def commit_partial(self, blob_id: str, now: float) -> None: ...
    def discard_partial(self, blob_id: str) -> None: ...
    def delete_expired(self, now: float, blob_ttl: float, partial_ttl: float) -> int: ...


class FilesystemBlobStore:
    """Blobs under `root/blobs/<first two hex digits>/<id>`, uploads under `root/partial/`."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._blobs = self.root / "blobs"
        self._partial = self.root / "partial"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._partial.mkdir(parents=True, exist_ok=True)

    def _blob_path(self, blob_id: str) -> Path:
        check_blob_id(blob_id)
        return self._blobs / blob_id[:2] / blob_id

    def _partial_path(self, blob_id: str) -> Path:
        check_blob_id(blob_id)
        return self._partial / f"{blob_id}.part"

    def stat_blob(self, blob_id: str) -> BlobInfo | None:
        try:
            status = self._blob_path(blob_id).stat()
        except FileNotFoundError:
            return None
        return BlobInfo(size=status.st_size, referenced_at=status.st_mtime)

    def open_blob(self, blob_id: str) -> BinaryIO:
        return open(self._blob_path(blob_id), "rb")

    def touch_blob(self, blob_id: str, now: float) -> None:
        os.utime(self._blob_path(blob_id), (now, now))

    def delete_blob(self, blob_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._blob_path(blob_id).unlink()

    def partial_size(self, blob_id: str) -> int:
        try:
            return self._partial_path(blob_id).stat().st_size
        except FileNotFoundError:
            return 0

    def open_partial(self, blob_id: str, offset: int) -> BinaryIO:
        """Open the partial upload for appending at `offset`, cutting off anything after it."""
        path = self._partial_path(blob_id)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        handle = os.fdopen(descriptor, "wb")
        handle.truncate(offset)
        handle.seek(offset)
        return handle

    def read_partial(self, blob_id: str) -> BinaryIO:
        return open(self._partial_path(blob_id), "rb")

    def commit_partial(self, blob_id: str, now: float) -> None:
        source = self._partial_path(blob_id)
        target = self._blob_path(blob_id)
        target.parent.mkdir(exist_ok=True)
        with open(source, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(source, target)
        os.utime(target, (now, now))

    def discard_partial(self, blob_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._partial_path(blob_id).unlink()

    def delete_expired(self, now: float, blob_ttl: float, partial_ttl: float) -> int:
        """Delete blobs unreferenced for `blob_ttl` seconds and partial uploads untouched for
        `partial_ttl` seconds; return how many files were deleted."""
        deleted = 0
        for directory, ttl in ((self._blobs, blob_ttl), (self._partial, partial_ttl)):
            for path in directory.rglob("*"):
                with contextlib.suppress(FileNotFoundError):
                    if path.is_file() and now - path.stat().st_mtime > ttl:
                        path.unlink()
                        deleted += 1
        return deleted
