"""The exception hierarchy of cipherpost.

The Rust core raises these classes by name (see `core/python/src/errors.rs`), so every error a
caller can see is defined here. Catch `CipherpostError` for anything raised by this package.
"""


class CipherpostError(Exception):
    """Base class of every error raised by cipherpost."""


# --- Signal protocol -----------------------------------------------------------------------


class CryptoError(CipherpostError):
    """A cryptographic operation failed."""


class InvalidKeyError(CryptoError):
    """A key has the wrong length, type byte or encoding."""


class InvalidSignatureError(CryptoError):
    """A signature, such as the one on a signed prekey, does not verify."""


class InvalidMessageError(CryptoError):
    """A message could not be decrypted.

    Bad MACs and failed decryption both raise this one opaque class on purpose, so that a caller
    cannot tell them apart and no padding or MAC oracle leaks.
    """


class MalformedMessageError(InvalidMessageError):
    """A message is not a well-formed protobuf or is truncated."""


class UnsupportedVersionError(InvalidMessageError):
    """A message carries a protocol version this implementation does not speak."""


class DuplicateMessageError(CryptoError):
    """A message was already decrypted: its message key has been used and deleted."""


class MessageTooFarInFutureError(InvalidMessageError):
    """A message jumps further ahead of its chain than the forward-jump limit allows."""


class NoSessionError(CryptoError):
    """There is no session with this address, or none that can decrypt this message."""


class UnknownPreKeyError(CryptoError):
    """A prekey message names a one-time or signed prekey that this device does not have."""


class UntrustedIdentityError(CryptoError):
    """A contact's identity key differs from the one stored for them.

    The caller should show this to the user (the safety number changed) and accept the new key
    only when the user says so; cipherpost never replaces a stored identity key silently.
    """

    def __init__(self, name: str, identity_key: bytes) -> None:
        super().__init__(
            f"identity key of {name!r} changed; verify the new safety number, then accept the "
            "key with IdentityStore.save_identity"
        )
        self.name = name
        self.identity_key = identity_key


class NoSenderKeyError(CryptoError):
    """There is no sender key state for this group sender, or none with this key id."""


class InvalidCryptoArgumentError(CryptoError, ValueError):
    """An argument of `cipherpost.crypto` is malformed, such as a key of the wrong length."""


class ProtocolStoreError(CryptoError):
    """A protocol store file cannot be used: another schema version or another identity."""


# --- gateway transport and protocol --------------------------------------------------------


class TransportError(CipherpostError):
    """The Noise handshake failed or a transport record did not decrypt; the connection is
    unusable and must be closed."""


class ProtocolError(CipherpostError):
    """A peer sent a frame that breaks the gateway protocol (malformed, oversized or out of
    order). `reason` is the numeric close reason sent in the DISCONNECT frame."""

    def __init__(self, reason: int, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class GatewayError(CipherpostError):
    """The gateway rejected a request; `code` is its numeric error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class ConnectionRejectedError(TransportError):
    """The gateway closed the connection because of a frame it cannot accept (malformed,
    oversized or out of order). Resending the same frame gets the same close, so a send that
    fails with this is not retried again. `reason` is the close reason from DISCONNECT."""

    def __init__(self, reason: int, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class MessageTooLargeError(CipherpostError, ValueError):
    """A message is larger than the gateway accepts for one device; `size` and `maximum` are
    in bytes. Shorten the text or send it as a media attachment."""

    def __init__(self, message: str, size: int, maximum: int) -> None:
        super().__init__(message)
        self.size = size
        self.maximum = maximum


class DeviceListMismatchError(GatewayError):
    """A send left out devices of the recipient or named removed ones. `devices` is the
    recipient's current device list; fix the sessions for it and resend."""

    def __init__(self, code: int, message: str, user: str, devices: list[int]) -> None:
        super().__init__(code, message)
        self.user = user
        self.devices = devices


# --- media: cipher, transfer service and client pipeline -----------------------------------


class MediaError(CipherpostError):
    """A media operation failed."""


class InvalidMediaArgumentError(MediaError, ValueError):
    """An argument of a media operation is invalid; the message names it and the valid range."""


class InvalidMediaKeyError(InvalidMediaArgumentError):
    """A media key is not 32 bytes long."""


class UnknownMediaTypeError(InvalidMediaArgumentError):
    """A media type name is not one of `cipherpost._core.MEDIA_TYPES`."""


class MediaVerificationError(MediaError):
    """Encrypted media failed a check; no plaintext was released."""


class MediaEncHashMismatchError(MediaVerificationError):
    """SHA-256 of the encrypted blob differs from the announced `file_enc_sha256`."""


class MediaMacError(MediaVerificationError):
    """The media MAC does not match: wrong media key or media type, or a changed blob."""


class MalformedMediaError(MediaVerificationError):
    """A blob passed its hash and MAC checks but is not valid AES-CBC with PKCS#7 padding."""


class MediaPlaintextHashMismatchError(MediaVerificationError):
    """SHA-256 of the decrypted file differs from the announced `file_sha256`."""


class MediaSidecarMismatchError(MediaVerificationError):
    """A streaming sidecar window MAC does not match during a range decryption."""


class MediaIOError(MediaError, OSError):
    """Reading or writing a media file failed; the message names the path."""


class MediaProcessingError(MediaError):
    """Compressing or transcoding media before encryption failed (Pillow or PyAV)."""


class MediaTransferError(MediaError):
    """An upload to or a download from the media service failed. `status` is the HTTP status,
    or None when no response arrived."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class UploadTokenError(MediaTransferError):
    """An upload token is malformed, has a bad signature, or has expired; ask the gateway for a
    new one."""


class RateLimitedError(GatewayError):
    """A gateway rate limit rejected the request; retry after `retry_after_ms` milliseconds."""

    def __init__(self, code: int, message: str, retry_after_ms: int) -> None:
        super().__init__(code, message)
        self.retry_after_ms = retry_after_ms
