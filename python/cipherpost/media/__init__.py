"""Media for cipherpost: streaming encryption in the WhatsApp format, the media service, and
the client pipeline that compresses, encrypts, uploads and announces attachments.

Importing this package needs only the Rust core; Pillow and PyAV are imported when a photo,
video or voice note is prepared.
"""

from cipherpost.media.cipher import (
    MEDIA_TYPES,
    STREAMABLE_TYPES,
    EncryptedMedia,
    decrypt_bytes,
    decrypt_file,
    decrypt_range,
    derive_media_keys,
    encrypt_bytes,
    encrypt_file,
    generate_media_key,
)
from cipherpost.media.message import MediaMessage, is_media_message
from cipherpost.media.tokens import UploadGrant, mint_upload_token, verify_upload_token

__all__ = [
    "MEDIA_TYPES",
    "STREAMABLE_TYPES",
    "EncryptedMedia",
    "MediaMessage",
    "UploadGrant",
    "decrypt_bytes",
    "decrypt_file",
    "decrypt_range",
    "derive_media_keys",
    "encrypt_bytes",
    "encrypt_file",
    "generate_media_key",
    "is_media_message",
    "mint_upload_token",
    "verify_upload_token",
]
