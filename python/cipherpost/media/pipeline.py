"""The client's media pipeline: compress, encrypt, upload, announce; and the reverse.

Before encryption, Pillow re-encodes images as JPEG (quality 80, long side capped, EXIF/GPS
and other metadata dropped). PyAV transcodes videos to H.264 at 720p or 480p under 16 MB and
voice notes to Opus. Documents are sent as they are. Each kind gets a small JPEG thumbnail
where one can be made.
"""

from __future__ import annotations

import asyncio
import io
import logging
import mimetypes
import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from cipherpost.exceptions import MediaProcessingError
from cipherpost.media.cipher import decrypt_file, encrypt_file
from cipherpost.media.client import MediaClient, ProgressCallback
from cipherpost.media.message import MediaMessage

logger = logging.getLogger("cipherpost.media.pipeline")

#: Long side of a sent photo, in pixels.
IMAGE_MAX_SIDE = 1600
#: JPEG quality of a sent photo (Pillow's 1..95 scale).
IMAGE_QUALITY = 80
#: Long side of a thumbnail, in pixels. NOTE: a guess at what a chat bubble preview needs.
THUMBNAIL_MAX_SIDE = 96
THUMBNAIL_QUALITY = 60
#: Largest transcoded video file, in bytes.
VIDEO_MAX_BYTES = 16_000_000
#: Output heights tried in order, with their highest video bit rate in bit/s. NOTE: typical
#: streaming bit rates for H.264 at these sizes, not tuned.
VIDEO_PROFILES = ((720, 2_500_000), (480, 1_000_000))
#: Lowest video bit rate worth encoding; below it a video is too long to send under the limit.
VIDEO_MIN_BITRATE = 150_000
VIDEO_AUDIO_BITRATE = 64_000
#: Share of the size limit that the bit rate plan may use; the rest absorbs container
#: overhead and encoder overshoot.
VIDEO_SIZE_MARGIN = 0.9
#: Opus bit rate of voice notes, in bit/s (speech needs far less than music).
VOICE_BITRATE = 32_000
VOICE_SAMPLE_RATE = 48_000


@dataclass(frozen=True, slots=True)
class PreparedMedia:
    """A file ready for encryption, with the fields the media message carries about it."""

    path: Path
    media_type: str
    mime_type: str
    width: int | None = None
    height: int | None = None
    duration_ms: int | None = None
    thumbnail: bytes | None = None
    file_name: str | None = None


def classify(path: Path) -> str:
    """Choose the media kind for a file: image, video, ptt (voice note) or document."""
    mime_type, _ = mimetypes.guess_type(path.name)
    if mime_type is None:
        return "document"
    if mime_type.startswith("image/") and mime_type != "image/gif":
        return "image"
    if mime_type.startswith("video/"):
        return "video"
    if mime_type.startswith("audio/"):
        return "ptt"
    return "document"


def _thumbnail_of(image: object) -> bytes:
    from PIL import Image

    assert isinstance(image, Image.Image)
    small = image.convert("RGB")
    small.thumbnail((THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=THUMBNAIL_QUALITY)
    return buffer.getvalue()


def prepare_image(source: Path, work_dir: Path, max_side: int = IMAGE_MAX_SIDE) -> PreparedMedia:
    """Re-encode a photo as JPEG quality 80 with its long side at most `max_side` pixels.

    The orientation tag is applied to the pixels first; then all metadata (EXIF including GPS,
    XMP, comments, ICC profile) is left out of the new file.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(source) as opened:
            image = ImageOps.exif_transpose(opened)
            if image.mode != "RGB":
                image = image.convert("RGB")
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            # Copy the pixels into a fresh image so no metadata travels with them.
            clean = Image.new("RGB", image.size)
            clean.paste(image)
    except (UnidentifiedImageError, OSError) as error:
        raise MediaProcessingError(f"cannot read {source} as an image: {error}") from error
    target = work_dir / f"{source.stem}.jpg"
    clean.save(target, "JPEG", quality=IMAGE_QUALITY, optimize=True)
    return PreparedMedia(
        path=target,
        media_type="image",
        mime_type="image/jpeg",
        width=clean.width,
        height=clean.height,
        thumbnail=_thumbnail_of(clean),
    )


def _video_plan(duration_seconds: float, max_bytes: int) -> list[tuple[int, int]]:
    """Return (height, video bit rate) pairs to try, best first."""
    budget = max_bytes * 8 * VIDEO_SIZE_MARGIN / max(duration_seconds, 0.1) - VIDEO_AUDIO_BITRATE
    plan = []
    for height, ceiling in VIDEO_PROFILES:
        bitrate = int(min(ceiling, budget))
        if bitrate >= VIDEO_MIN_BITRATE:
            plan.append((height, bitrate))
    return plan


def _transcode_video(source: Path, target: Path, height: int, bitrate: int) -> tuple[int, int, int]:
    """Transcode to H.264 (and AAC audio) in MP4; return (width, height, duration in ms)."""
    import av

    with av.open(str(source)) as container_in, av.open(str(target), "w", format="mp4") as out:
        video_in = container_in.streams.video[0]
        audio_in = container_in.streams.audio[0] if container_in.streams.audio else None
        source_height = video_in.codec_context.height
        source_width = video_in.codec_context.width
        out_height = min(height, source_height) // 2 * 2
        out_width = max(2, round(source_width * out_height / source_height / 2) * 2)
        rate = video_in.average_rate or Fraction(30, 1)
        video_out = out.add_stream("libx264", rate=rate)
        video_out.width = out_width
        video_out.height = out_height
        video_out.pix_fmt = "yuv420p"
        video_out.bit_rate = bitrate
        video_out.options = {
            "preset": "veryfast",
            "maxrate": str(bitrate * 3 // 2),
            "bufsize": str(bitrate * 2),
        }
        video_out.codec_context.time_base = Fraction(1, 1) / Fraction(rate)
        audio_out = None
        if audio_in is not None:
            audio_out = out.add_stream("aac", rate=44_100)
            audio_out.bit_rate = VIDEO_AUDIO_BITRATE

        frames = 0
        streams = [video_in] + ([audio_in] if audio_in is not None else [])
        for packet in container_in.demux(*streams):
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    scaled = frame.reformat(width=out_width, height=out_height, format="yuv420p")
                    scaled.pts = frames
                    scaled.time_base = video_out.codec_context.time_base
                    frames += 1
                    out.mux(video_out.encode(scaled))
                elif isinstance(frame, av.AudioFrame) and audio_out is not None:
                    frame.pts = None
                    out.mux(audio_out.encode(frame))
        out.mux(video_out.encode(None))
        if audio_out is not None:
            out.mux(audio_out.encode(None))
    duration_ms = int(frames * 1000 / float(rate))
    return out_width, out_height, duration_ms


def _first_frame_thumbnail(source: Path) -> bytes | None:
    import av

    try:
        with av.open(str(source)) as container:
            for frame in container.decode(video=0):
                return _thumbnail_of(frame.to_image())  # type: ignore[no-untyped-call]
    except (av.FFmpegError, StopIteration):
        return None
    return None


def prepare_video(source: Path, work_dir: Path, max_bytes: int = VIDEO_MAX_BYTES) -> PreparedMedia:
    """Transcode a video to H.264 at 720p or 480p so that the file stays under `max_bytes`."""
    import av

    try:
        with av.open(str(source)) as probe:
            if not probe.streams.video:
                raise MediaProcessingError(f"{source} has no video stream")
            duration = probe.duration / av.time_base if probe.duration else 0.0
    except av.FFmpegError as error:
        raise MediaProcessingError(f"cannot read {source} as a video: {error}") from error
    target = work_dir / f"{source.stem}.mp4"
    plan = _video_plan(duration, max_bytes)
    if not plan:
        raise MediaProcessingError(
            f"{source} lasts {duration:.0f} s, too long to send under {max_bytes} bytes; "
            "trim it or send it as a document"
        )
    for height, bitrate in plan:
        try:
            width, out_height, duration_ms = _transcode_video(source, target, height, bitrate)
        except av.FFmpegError as error:
            raise MediaProcessingError(f"transcoding {source} failed: {error}") from error
        size = target.stat().st_size
        if size <= max_bytes:
            return PreparedMedia(
                path=target,
                media_type="video",
                mime_type="video/mp4",
                width=width,
                height=out_height,
                duration_ms=duration_ms,
                thumbnail=_first_frame_thumbnail(target),
            )
        logger.info("transcoded video is %d bytes at %dp; trying a smaller size", size, height)
    raise MediaProcessingError(
        f"{source} does not fit in {max_bytes} bytes even at 480p; trim it or send it as a document"
    )


def prepare_voice(source: Path, work_dir: Path) -> PreparedMedia:
    """Transcode audio to a mono Opus voice note in an Ogg container."""
    import av

    target = work_dir / f"{source.stem}.ogg"
    try:
        with av.open(str(source)) as container_in, av.open(str(target), "w", format="ogg") as out:
            if not container_in.streams.audio:
                raise MediaProcessingError(f"{source} has no audio stream")
            audio_out = out.add_stream("libopus", rate=VOICE_SAMPLE_RATE, layout="mono")
            audio_out.bit_rate = VOICE_BITRATE
            samples = 0
            for frame in container_in.decode(audio=0):
                samples += frame.samples * VOICE_SAMPLE_RATE // max(frame.sample_rate, 1)
                frame.pts = None
                out.mux(audio_out.encode(frame))
            out.mux(audio_out.encode(None))
    except av.FFmpegError as error:
        raise MediaProcessingError(f"transcoding {source} to Opus failed: {error}") from error
    return PreparedMedia(
        path=target,
        media_type="ptt",
        mime_type="audio/ogg",
        duration_ms=samples * 1000 // VOICE_SAMPLE_RATE,
    )


def prepare_document(source: Path) -> PreparedMedia:
    mime_type, _ = mimetypes.guess_type(source.name)
    return PreparedMedia(
        path=source,
        media_type="document",
        mime_type=mime_type or "application/octet-stream",
        file_name=source.name,
    )


def prepare_media(source: Path, work_dir: Path, kind: str | None = None) -> PreparedMedia:
    """Compress or transcode `source` for sending, as `kind` or as `classify` decides."""
    if not source.is_file():
        raise MediaProcessingError(f"{source} is not a readable file")
    kind = kind or classify(source)
    if kind == "image":
        return prepare_image(source, work_dir)
    if kind == "video":
        return prepare_video(source, work_dir)
    if kind == "ptt":
        return prepare_voice(source, work_dir)
    if kind == "document":
        return prepare_document(source)
    raise MediaProcessingError(f"media kind {kind!r} is invalid; use image, video, ptt or document")


async def prepare_and_upload(
    source: str | os.PathLike[str],
    *,
    client: MediaClient,
    token: str,
    kind: str | None = None,
    progress: ProgressCallback | None = None,
) -> MediaMessage:
    """Compress, encrypt and upload one file; return the media message to send over E2EE.

    The media key exists only in the returned message; send it inside a Signal-encrypted
    message (`message.to_bytes()`), never in the clear.
    """
    with tempfile.TemporaryDirectory(prefix="cipherpost-media-") as scratch:
        work_dir = Path(scratch)
        prepared = await asyncio.to_thread(prepare_media, Path(source), work_dir, kind)
        blob_path = work_dir / "blob.enc"
        encrypted = await asyncio.to_thread(
            encrypt_file, prepared.path, blob_path, prepared.media_type
        )
        download_id = encrypted.file_enc_sha256.hex()
        await client.upload_file(blob_path, download_id, token, progress)
    logger.info(
        "uploaded %s media as blob %s (%d bytes)",
        prepared.media_type,
        download_id,
        encrypted.enc_length,
    )
    return MediaMessage(
        media_type=prepared.media_type,
        download_id=download_id,
        media_key=encrypted.media_key,
        file_sha256=encrypted.file_sha256,
        file_enc_sha256=encrypted.file_enc_sha256,
        file_length=encrypted.file_length,
        mime_type=prepared.mime_type,
        width=prepared.width,
        height=prepared.height,
        duration_ms=prepared.duration_ms,
        thumbnail=prepared.thumbnail,
        file_name=prepared.file_name,
        sidecar=encrypted.sidecar,
    )


def _destination(message: MediaMessage, dest_dir: Path) -> Path:
    if message.file_name:
        name = message.file_name
    else:
        extension = mimetypes.guess_extension(message.mime_type) or ".bin"
        name = f"{message.media_type}-{message.download_id[:16]}{extension}"
    target = dest_dir / name
    stem, suffix = target.stem, target.suffix
    counter = 1
    while target.exists():
        target = dest_dir / f"{stem}-{counter}{suffix}"
        counter += 1
    return target


async def receive_media(
    message: MediaMessage,
    *,
    client: MediaClient,
    dest_dir: str | os.PathLike[str],
    progress: ProgressCallback | None = None,
) -> Path:
    """Download, verify and decrypt an announced attachment into `dest_dir`; return its path.

    Raises a `MediaVerificationError` subclass if the download does not match the message;
    nothing is left in `dest_dir` then.
    """
    directory = Path(dest_dir)
    directory.mkdir(parents=True, exist_ok=True)
    blob_path = directory / f".{message.download_id}.download"
    try:
        await client.download_file(message.download_id, blob_path, progress)
        target = _destination(message, directory)
        await asyncio.to_thread(
            decrypt_file,
            blob_path,
            target,
            message.media_type,
            message.media_key,
            message.file_enc_sha256,
            message.file_sha256,
        )
    finally:
        blob_path.unlink(missing_ok=True)
    logger.info("received %s media from blob %s", message.media_type, message.download_id)
    return target
