"""The client media pipeline: photo metadata removal, video and voice transcoding, the media
message, and a photo sent through the running media service and received again."""

from __future__ import annotations

import hashlib
import io
import math
import struct
import wave
from collections.abc import AsyncIterator
from fractions import Fraction
from pathlib import Path

import av
import pytest
from cipherpost.exceptions import (
    InvalidMediaArgumentError,
    MediaMacError,
    MediaProcessingError,
)
from cipherpost.media.client import MediaClient
from cipherpost.media.message import MediaMessage, is_media_message
from cipherpost.media.pipeline import (
    IMAGE_MAX_SIDE,
    THUMBNAIL_MAX_SIDE,
    classify,
    prepare_and_upload,
    prepare_image,
    prepare_video,
    prepare_voice,
    receive_media,
)
from cipherpost.media.service import MediaServer, MediaServiceConfig
from cipherpost.media.tokens import mint_upload_token
from PIL import Image

SECRET = b"k" * 32
GPS_IFD = 0x8825
CAMERA_MODEL = "SecretCam 3000"


def photo_with_metadata(path: Path, size: tuple[int, int] = (3200, 2400)) -> None:
    """Write a JPEG carrying EXIF camera tags and a GPS position."""
    image = Image.new("RGB", size)
    for x in range(0, size[0], 100):
        image.paste((x % 256, (x * 3) % 256, 120), (x, 0, x + 50, size[1]))
    exif = Image.Exif()
    exif[0x010F] = "SecretMaker"  # Make
    exif[0x0110] = CAMERA_MODEL  # Model
    gps = exif.get_ifd(GPS_IFD)
    gps[1] = "N"
    gps[2] = (52.0, 31.0, 12.0)
    gps[3] = "E"
    gps[4] = (13.0, 24.0, 36.0)
    image.save(path, "JPEG", exif=exif, quality=95)
    with Image.open(path) as check:
        assert check.getexif().get_ifd(GPS_IFD), "test photo must carry GPS data"


def assert_no_metadata(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as image:
        assert len(image.getexif()) == 0
        assert "exif" not in image.info
        assert "xmp" not in image.info
    assert b"Exif" not in data
    assert CAMERA_MODEL.encode() not in data
    assert b"SecretMaker" not in data


def test_photo_loses_metadata_and_shrinks(tmp_path: Path) -> None:
    source = tmp_path / "photo.jpg"
    photo_with_metadata(source)
    prepared = prepare_image(source, tmp_path)
    data = prepared.path.read_bytes()
    assert_no_metadata(data)
    assert max(prepared.width or 0, prepared.height or 0) == IMAGE_MAX_SIDE
    assert (prepared.width, prepared.height) == (1600, 1200)
    assert prepared.mime_type == "image/jpeg"
    with Image.open(io.BytesIO(prepared.thumbnail or b"")) as thumbnail:
        assert max(thumbnail.size) <= THUMBNAIL_MAX_SIDE
        assert thumbnail.format == "JPEG"


def test_photo_orientation_is_applied(tmp_path: Path) -> None:
    source = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    Image.new("RGB", (400, 200), (200, 10, 10)).save(source, "JPEG", exif=exif)
    prepared = prepare_image(source, tmp_path)
    assert (prepared.width, prepared.height) == (200, 400)
    assert_no_metadata(prepared.path.read_bytes())


def test_small_photo_is_not_enlarged(tmp_path: Path) -> None:
    source = tmp_path / "small.png"
    Image.new("RGBA", (300, 100), (1, 2, 3, 128)).save(source)
    prepared = prepare_image(source, tmp_path)
    assert (prepared.width, prepared.height) == (300, 100)


def test_not_an_image_is_a_processing_error(tmp_path: Path) -> None:
    source = tmp_path / "fake.jpg"
    source.write_bytes(b"not a jpeg")
    with pytest.raises(MediaProcessingError, match="fake.jpg"):
        prepare_image(source, tmp_path)


def make_video(path: Path, seconds: int = 2, size: tuple[int, int] = (1280, 720)) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=44_100)
        for index in range(seconds * 25):
            image = Image.new("RGB", size, (index * 5 % 256, 80, 160))
            frame = av.VideoFrame.from_image(image)
            container.mux(stream.encode(frame))
        for index in range(seconds * 44_100 // 1024):
            samples = av.AudioFrame(format="fltp", layout="stereo", samples=1024)
            for plane in samples.planes:
                plane.update(bytes(plane.buffer_size))
            samples.sample_rate = 44_100
            samples.pts = index * 1024
            samples.time_base = Fraction(1, 44_100)
            container.mux(audio.encode(samples))
        container.mux(stream.encode(None))
        container.mux(audio.encode(None))


def test_video_becomes_h264_under_limit(tmp_path: Path) -> None:
    source = tmp_path / "clip.avi"
    make_video(source)
    prepared = prepare_video(source, tmp_path)
    assert prepared.mime_type == "video/mp4"
    assert prepared.path.stat().st_size < 16_000_000
    with av.open(str(prepared.path)) as result:
        video = result.streams.video[0]
        assert video.codec_context.name == "h264"
        assert video.codec_context.height == 720
        assert result.streams.audio[0].codec_context.name == "aac"
    assert (prepared.width, prepared.height) == (1280, 720)
    assert prepared.duration_ms is not None and 1500 <= prepared.duration_ms <= 2500
    assert prepared.thumbnail is not None


def test_video_fits_smaller_budget(tmp_path: Path) -> None:
    source = tmp_path / "clip.avi"
    make_video(source, seconds=2)
    # A 300 kB budget for 2 s leaves about 1 Mbit/s for video; 30 kB leaves less than the
    # lowest bit rate worth encoding.
    prepared = prepare_video(source, tmp_path, max_bytes=300_000)
    assert prepared.path.stat().st_size <= 300_000
    with pytest.raises(MediaProcessingError, match="too long"):
        prepare_video(source, tmp_path, max_bytes=30_000)


def make_wav(path: Path, seconds: float = 1.5, rate: int = 16_000) -> None:
    with wave.open(str(path), "wb") as output:
        output.setnchannels(1)
        output.setsampwidth(2)
        output.setframerate(rate)
        samples = (
            int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(int(seconds * rate))
        )
        output.writeframes(b"".join(struct.pack("<h", sample) for sample in samples))


def test_voice_note_becomes_opus(tmp_path: Path) -> None:
    source = tmp_path / "note.wav"
    make_wav(source)
    prepared = prepare_voice(source, tmp_path)
    assert prepared.media_type == "ptt"
    assert prepared.mime_type == "audio/ogg"
    with av.open(str(prepared.path)) as result:
        assert result.streams.audio[0].codec_context.name == "opus"
    assert prepared.duration_ms is not None and 1400 <= prepared.duration_ms <= 1600
    assert prepared.path.stat().st_size < source.stat().st_size


def test_classify_by_file_name() -> None:
    assert classify(Path("a.JPG")) == "image"
    assert classify(Path("a.mp4")) == "video"
    assert classify(Path("a.ogg")) == "ptt"
    assert classify(Path("a.pdf")) == "document"
    assert classify(Path("a.gif")) == "document"
    assert classify(Path("noextension")) == "document"


def sample_message(**changes: object) -> MediaMessage:
    fields: dict[str, object] = {
        "media_type": "image",
        "download_id": "ab" * 32,
        "media_key": b"\x01" * 32,
        "file_sha256": b"\x02" * 32,
        "file_enc_sha256": bytes.fromhex("ab" * 32),
        "file_length": 1234,
        "mime_type": "image/jpeg",
        "width": 1600,
        "height": 1200,
        "thumbnail": b"\xff\xd8thumb",
    }
    fields.update(changes)
    return MediaMessage(**fields)  # type: ignore[arg-type]


def test_media_message_round_trip() -> None:
    message = sample_message()
    data = message.to_bytes()
    assert is_media_message(data)
    assert MediaMessage.from_bytes(data) == message
    assert "media_key" not in repr(message)
    assert not is_media_message(b"hello")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"not json", "not valid JSON"),
        (b'{"kind": "other"}', "not a cipherpost media message"),
        (b'{"kind": "cipherpost.media", "v": 2}', "version 2"),
        (b'{"kind": "cipherpost.media", "v": 1}', "lacks the field"),
    ],
)
def test_media_message_rejects_malformed(data: bytes, match: str) -> None:
    with pytest.raises(InvalidMediaArgumentError, match=match):
        MediaMessage.from_bytes(data)


@pytest.mark.parametrize(
    "changes",
    [
        {"media_type": "picture"},
        {"download_id": "AB" * 32},
        {"media_key": b"short"},
        {"file_length": -1},
        {"mime_type": "image/jpeg; x=1"},
        {"file_name": "../etc/passwd"},
        {"thumbnail": b"x" * 40_000},
    ],
)
def test_media_message_rejects_invalid_fields(changes: dict[str, object]) -> None:
    with pytest.raises(InvalidMediaArgumentError):
        sample_message(**changes)


@pytest.fixture
async def media_client(tmp_path: Path) -> AsyncIterator[MediaClient]:
    server = MediaServer(MediaServiceConfig(root=tmp_path / "store", token_secret=SECRET))
    await server.start()
    async with MediaClient(server.base_url) as client:
        yield client
    await server.stop()


async def test_photo_sent_and_received(media_client: MediaClient, tmp_path: Path) -> None:
    source = tmp_path / "holiday.jpg"
    photo_with_metadata(source)
    token = mint_upload_token(SECRET, "alice", 1, max_bytes=50_000_000)
    uploaded: list[int] = []
    message = await prepare_and_upload(
        source, client=media_client, token=token, progress=lambda done, total: uploaded.append(done)
    )
    assert message.media_type == "image"
    assert uploaded and uploaded[-1] == message.file_length + (16 - message.file_length % 16) + 10

    # The receiver only sees the serialized message, as it would arrive inside an E2EE message.
    received = MediaMessage.from_bytes(message.to_bytes())
    inbox = tmp_path / "inbox"
    path = await receive_media(received, client=media_client, dest_dir=inbox)
    data = path.read_bytes()
    assert hashlib.sha256(data).digest() == message.file_sha256
    assert len(data) < source.stat().st_size
    assert_no_metadata(data)
    with Image.open(path) as image:
        assert max(image.size) == IMAGE_MAX_SIDE
    assert sorted(entry.name for entry in inbox.iterdir()) == [path.name]


async def test_receive_with_wrong_key_leaves_nothing(
    media_client: MediaClient, tmp_path: Path
) -> None:
    source = tmp_path / "report.pdf"
    source.write_bytes(b"%PDF-1.4 " + bytes(range(256)) * 100)
    token = mint_upload_token(SECRET, "alice", 1, max_bytes=50_000_000)
    message = await prepare_and_upload(source, client=media_client, token=token)
    assert message.media_type == "document"
    assert message.file_name == "report.pdf"

    forged = sample_message(
        media_type="document",
        download_id=message.download_id,
        media_key=b"\x09" * 32,
        file_sha256=message.file_sha256,
        file_enc_sha256=message.file_enc_sha256,
        mime_type="application/pdf",
        thumbnail=None,
        width=None,
        height=None,
    )
    inbox = tmp_path / "inbox"
    with pytest.raises(MediaMacError):
        await receive_media(forged, client=media_client, dest_dir=inbox)
    assert list(inbox.iterdir()) == []

    path = await receive_media(message, client=media_client, dest_dir=inbox)
    assert path.read_bytes() == source.read_bytes()
    assert path.name == "report.pdf"
