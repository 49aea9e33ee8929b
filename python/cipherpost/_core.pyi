"""Type stubs for `cipherpost._core`, the PyO3 binding of the Rust crates in `core/`.

Keys cross this boundary as bytes: public keys in their 33-byte serialized form (type byte 0x05
followed by the 32-byte Curve25519 u-coordinate), private keys as 32 bytes. Errors are raised as
the classes in `cipherpost.exceptions`.
"""

from typing import Any

__version__: str

# --- randomness ----------------------------------------------------------------------------

class Rng:
    """Random number generator handed to every operation that needs randomness.

    `Rng()` draws from the operating system. `Rng(seed)` with a 32-byte seed is a deterministic
    ChaCha20 stream, for tests only.
    """

    def __init__(self, seed: bytes | None = None) -> None: ...
    def random_bytes(self, length: int) -> bytes: ...

# --- keys and signatures -------------------------------------------------------------------

class KeyPair:
    """A Curve25519 key pair. The private half is zeroized when the object is freed."""

    @staticmethod
    def generate(rng: Rng) -> KeyPair: ...
    @staticmethod
    def from_private(private_key: bytes) -> KeyPair: ...
    @property
    def public_key(self) -> bytes: ...  # 33 bytes
    @property
    def private_key(self) -> bytes: ...  # 32 bytes; for persistence in a key store only
    def sign(self, message: bytes, rng: Rng) -> bytes:
        """XEdDSA signature (64 bytes), libsignal variant: sign bit in the top bit of byte 63."""
    def agree(self, their_public_key: bytes) -> bytes:
        """X25519 shared secret (32 bytes) with a 32- or 33-byte public key."""

def xeddsa_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Verify an XEdDSA signature; public key as 32 raw bytes or the 33-byte form."""

def safety_number(
    local_id: bytes,
    local_identity_key: bytes,
    remote_id: bytes,
    remote_identity_key: bytes,
    iterations: int = 5200,
) -> str:
    """Signal's numeric fingerprint: 60 digits, the two 30-digit halves sorted, no spaces."""

def scannable_fingerprint(
    local_id: bytes,
    local_identity_key: bytes,
    remote_id: bytes,
    remote_identity_key: bytes,
    iterations: int = 5200,
) -> bytes:
    """The QR-code payload: protobuf `CombinedFingerprints` (version 0) with both 32-byte halves."""

def scannable_fingerprints_match(ours: bytes, scanned: bytes) -> bool:
    """Compare our scannable payload with one scanned from the other device (halves swapped)."""

# --- pairwise sessions (X3DH and the Double Ratchet) ---------------------------------------

PREKEY_MESSAGE_TYPE: int  # 3, as in libsignal's CiphertextMessage.PREKEY_TYPE
SIGNAL_MESSAGE_TYPE: int  # 2, as in libsignal's CiphertextMessage.WHISPER_TYPE
MAX_FORWARD_JUMP: int  # 2,000 messages, the v3-era limit
MAX_SKIPPED_KEYS_PER_CHAIN: int
MAX_RECEIVER_CHAINS: int  # 5
MAX_ARCHIVED_STATES: int  # 40

class PreKeyBundle:
    def __init__(
        self,
        registration_id: int,
        device_id: int,
        prekey_id: int | None,
        prekey_public: bytes | None,
        signed_prekey_id: int,
        signed_prekey_public: bytes,
        signed_prekey_signature: bytes,
        identity_key: bytes,
    ) -> None: ...
    registration_id: int
    device_id: int
    prekey_id: int | None
    prekey_public: bytes | None
    signed_prekey_id: int
    signed_prekey_public: bytes
    signed_prekey_signature: bytes
    identity_key: bytes

class PreKeyMessageHeader:
    """The unauthenticated fields of a `PreKeySignalMessage`, read before decryption so that
    the caller can check the sender's identity and look up the named prekeys."""

    registration_id: int
    prekey_id: int | None
    signed_prekey_id: int
    base_key: bytes
    identity_key: bytes

def parse_prekey_message(message: bytes) -> PreKeyMessageHeader: ...

class SessionRecord:
    """A session with one remote device: the current state plus up to `MAX_ARCHIVED_STATES`
    previous ones. Operations that fail leave the record exactly as it was."""

    def __init__(self) -> None: ...  # empty record, no current state
    @staticmethod
    def deserialize(data: bytes) -> SessionRecord:
        """Load a record written by `serialize`; InvalidCryptoArgumentError if it is corrupt."""
    def serialize(self) -> bytes: ...
    def has_current_state(self) -> bool: ...
    def remote_identity_key(self) -> bytes | None: ...
    def remote_registration_id(self) -> int | None: ...
    def has_session_with_base_key(self, base_key: bytes) -> bool: ...
    def archive_current_state(self) -> None: ...
    def clone(self) -> SessionRecord: ...
    def initialize_from_bundle(
        self,
        our_identity: KeyPair,
        our_registration_id: int,
        bundle: PreKeyBundle,
        rng: Rng,
    ) -> None:
        """Run X3DH as the initiator (after verifying the signed prekey's signature, raising
        InvalidSignatureError) and make the new session current; older state is archived. The
        next `encrypt` returns a `PreKeySignalMessage` until a reply arrives."""
    def encrypt(self, our_identity_key: bytes, plaintext: bytes) -> tuple[int, bytes]:
        """Return (message type, serialized message) and advance the sending chain."""
    def decrypt_signal_message(
        self, our_identity_key: bytes, message: bytes, rng: Rng
    ) -> bytes:
        """Decrypt a `SignalMessage` with the current or an archived state."""
    def decrypt_prekey_message(
        self,
        our_identity: KeyPair,
        our_registration_id: int,
        message: bytes,
        signed_prekey: KeyPair | None,
        one_time_prekey: KeyPair | None,
        rng: Rng,
    ) -> bytes:
        """Decrypt a `PreKeySignalMessage`, running X3DH as the responder unless a state with
        its base key already exists (a repeated or later prekey message). `signed_prekey` and
        `one_time_prekey` are the private prekeys the header names; None is allowed only when
        a state with the base key exists or the header names no one-time prekey, and otherwise
        raises UnknownPreKeyError."""

# --- Sender Keys (groups) ------------------------------------------------------------------

SENDER_KEY_MESSAGE_TYPE: int  # 4
SENDER_KEY_DISTRIBUTION_TYPE: int  # 5
MAX_SENDER_KEY_STATES: int  # 5

class SenderKeyRecord:
    """The sender key states of one (group, sender device), newest first, at most
    `MAX_SENDER_KEY_STATES`."""

    def __init__(self) -> None: ...
    @staticmethod
    def deserialize(data: bytes) -> SenderKeyRecord:
        """Load a record written by `serialize`; InvalidCryptoArgumentError if it is corrupt."""
    def serialize(self) -> bytes: ...
    def is_empty(self) -> bool: ...
    def clone(self) -> SenderKeyRecord: ...
    def create_distribution_message(self, rng: Rng) -> bytes:
        """Create our own sending state if there is none (random key id, chain key and signing
        key) and return a serialized `SenderKeyDistributionMessage` for it."""
    def process_distribution_message(self, message: bytes) -> None: ...
    def encrypt(self, plaintext: bytes, rng: Rng) -> bytes:
        """Return a serialized, signed `SenderKeyMessage`."""
    def decrypt(self, message: bytes) -> bytes: ...

# --- media (WhatsApp media format) and transport (Noise XX) are added below by their modules.

# --- media (WhatsApp media format) ---------------------------------------------------------
#
# Media type names map to HKDF info strings in MEDIA_TYPES. Summaries are dicts with the keys
# media_key, file_sha256, file_enc_sha256, mac (bytes), file_length, enc_length (int) and
# sidecar (bytes or None); cipherpost.media.cipher wraps them in EncryptedMedia. File functions
# release the GIL and write their output only when complete.

MEDIA_TYPES: dict[str, str]
MEDIA_MAC_LENGTH: int  # 10
MEDIA_SIDECAR_STEP: int  # 65,536
MEDIA_SIDECAR_WINDOW: int  # 65,552
MEDIA_SIDECAR_MAC_LENGTH: int  # 10
MEDIA_DEFAULT_CHUNK_SIZE: int
MEDIA_MIN_CHUNK_SIZE: int
MEDIA_MAX_CHUNK_SIZE: int
MEDIA_MAX_RANGE_LENGTH: int

def media_generate_key() -> bytes: ...
def media_derive_keys(media_type: str, media_key: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """HKDF expansion: (IV, cipher key, MAC key, ref key)."""
def media_encrypt_file(
    media_type: str,
    media_key: bytes | None,
    input_path: str,
    output_path: str,
    *,
    sidecar: bool = False,
    chunk_size: int = ...,
) -> dict[str, Any]:
    """Encrypt a file in one pass; a fresh key is drawn when `media_key` is None."""
def media_decrypt_file(
    media_type: str,
    media_key: bytes,
    input_path: str,
    output_path: str,
    file_enc_sha256: bytes,
    file_sha256: bytes | None = None,
    *,
    chunk_size: int = ...,
) -> tuple[bytes, int]:
    """Check blob hash, MAC, padding and plaintext hash; return (file_sha256, file_length)."""
def media_encrypt_bytes(
    media_type: str, media_key: bytes | None, plaintext: bytes, *, sidecar: bool = False
) -> tuple[bytes, dict[str, Any]]: ...
def media_decrypt_bytes(
    media_type: str,
    media_key: bytes,
    blob: bytes,
    file_enc_sha256: bytes,
    file_sha256: bytes | None = None,
) -> bytes: ...
def media_decrypt_range_file(
    media_type: str,
    media_key: bytes,
    input_path: str,
    file_length: int,
    sidecar: bytes,
    offset: int,
    length: int,
) -> bytes:
    """Decrypt plaintext bytes offset..offset+length after checking the covering sidecar windows."""


# --- transport (Noise XX) ------------------------------------------------------------------

NOISE_PARAMS: str  # "Noise_XX_25519_ChaChaPoly_SHA256"
MAX_RECORD_PLAINTEXT: int  # 65519: a Noise message (65535 bytes) minus its 16-byte tag

class TransportKeyPair:
    """A device's or gateway's static Curve25519 transport key, separate from the Signal
    identity key. Keys are 32 raw bytes; the private half is zeroized when freed."""

    @staticmethod
    def generate() -> TransportKeyPair: ...
    @staticmethod
    def from_private(private_key: bytes) -> TransportKeyPair: ...
    @property
    def public_key(self) -> bytes: ...
    @property
    def private_key(self) -> bytes: ...

class NoiseHandshake:
    """One side of a Noise XX handshake. Messages are returned and taken without the 2-byte
    record length prefix; raises TransportError on a bad message or a call out of turn."""

    def __init__(self, initiator: bool, local_key: TransportKeyPair) -> None: ...
    def write_message(self) -> bytes: ...
    def read_message(self, message: bytes) -> None: ...
    def is_finished(self) -> bool: ...
    def is_my_turn(self) -> bool: ...
    def remote_static(self) -> bytes | None: ...
    def into_transport(self) -> NoiseTransport: ...

class NoiseTransport:
    """An established session. `seal` returns length-prefixed records (plaintext split at
    MAX_RECORD_PLAINTEXT); `open` decrypts the complete records at the start of `data` and
    returns (plaintext, bytes consumed)."""

    @property
    def remote_static(self) -> bytes: ...
    def seal(self, plaintext: bytes) -> bytes: ...
    def open(self, data: bytes) -> tuple[bytes, int]: ...
