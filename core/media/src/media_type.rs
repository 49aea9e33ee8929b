//! Media types and their HKDF info strings.

use crate::error::MediaError;

/// The kind of media a key is derived for. Each kind expands the media key with its own HKDF
/// info string, so a blob decrypted with the wrong kind fails its MAC check.
///
/// Names and info strings follow WhatsApp's published labels as collected in Baileys
/// (`MEDIA_HKDF_KEY_MAPPING` in `src/Defaults/index.ts` of WhiskeySockets/Baileys). Labels that
/// share an info string there (sticker and image, voice note and audio) share it here too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaType {
    Image,
    Video,
    Audio,
    Document,
    Sticker,
    Gif,
    VoiceNote,
    VideoNote,
    ProductImage,
    ImageThumbnail,
    VideoThumbnail,
    DocumentThumbnail,
    LinkThumbnail,
    History,
    AppState,
    PaymentBackground,
}

/// Every media type with its name and HKDF info string, in the order `MediaType::all` returns
/// them.
const TABLE: [(MediaType, &str, &str); 16] = [
    (MediaType::Image, "image", "WhatsApp Image Keys"),
    (MediaType::Video, "video", "WhatsApp Video Keys"),
    (MediaType::Audio, "audio", "WhatsApp Audio Keys"),
    (MediaType::Document, "document", "WhatsApp Document Keys"),
    (MediaType::Sticker, "sticker", "WhatsApp Image Keys"),
    (MediaType::Gif, "gif", "WhatsApp Video Keys"),
    (MediaType::VoiceNote, "ptt", "WhatsApp Audio Keys"),
    (MediaType::VideoNote, "ptv", "WhatsApp Video Keys"),
    (MediaType::ProductImage, "product", "WhatsApp Image Keys"),
    (
        MediaType::ImageThumbnail,
        "thumbnail-image",
        "WhatsApp Image Thumbnail Keys",
    ),
    (
        MediaType::VideoThumbnail,
        "thumbnail-video",
        "WhatsApp Video Thumbnail Keys",
    ),
    (
        MediaType::DocumentThumbnail,
        "thumbnail-document",
        "WhatsApp Document Thumbnail Keys",
    ),
    (
        MediaType::LinkThumbnail,
        "thumbnail-link",
        "WhatsApp Link Thumbnail Keys",
    ),
    (MediaType::History, "history", "WhatsApp History Keys"),
    (MediaType::AppState, "app-state", "WhatsApp App State Keys"),
    (
        MediaType::PaymentBackground,
        "payment-bg-image",
        "WhatsApp Payment Background Keys",
    ),
];

/// Other spellings accepted by `MediaType::from_name`: WhatsApp's internal labels for history
/// sync and app state blobs, and readable names for voice and video notes.
const ALIASES: [(&str, MediaType); 4] = [
    ("md-msg-hist", MediaType::History),
    ("md-app-state", MediaType::AppState),
    ("voice", MediaType::VoiceNote),
    ("video-note", MediaType::VideoNote),
];

impl MediaType {
    /// Return every media type, in a stable order.
    pub fn all() -> impl Iterator<Item = MediaType> {
        TABLE.iter().map(|(media_type, _, _)| *media_type)
    }

    /// Parse a name such as `"image"` or `"thumbnail-video"` (ASCII case-insensitive).
    pub fn from_name(name: &str) -> Result<MediaType, MediaError> {
        let lower = name.to_ascii_lowercase();
        TABLE
            .iter()
            .find(|(_, table_name, _)| *table_name == lower)
            .map(|(media_type, _, _)| *media_type)
            .or_else(|| {
                ALIASES
                    .iter()
                    .find(|(alias, _)| *alias == lower)
                    .map(|(_, media_type)| *media_type)
            })
            .ok_or_else(|| MediaError::UnknownMediaType(name.to_owned()))
    }

    /// Return the canonical name, as `from_name` accepts it.
    pub fn name(self) -> &'static str {
        self.entry().1
    }

    /// Return the HKDF info string, for example `"WhatsApp Image Keys"`.
    pub fn info(self) -> &'static str {
        self.entry().2
    }

    /// Return whether WhatsApp clients stream this type while downloading, so that a sidecar of
    /// per-window MACs is worth producing.
    pub fn is_streamable(self) -> bool {
        matches!(
            self,
            MediaType::Video
                | MediaType::Audio
                | MediaType::Gif
                | MediaType::VoiceNote
                | MediaType::VideoNote
        )
    }

    fn entry(self) -> &'static (MediaType, &'static str, &'static str) {
        // TABLE lists every variant exactly once (checked by the `table_is_complete` test), so
        // the search always succeeds; the fallback only keeps this function panic-free.
        TABLE
            .iter()
            .find(|(media_type, _, _)| *media_type == self)
            .unwrap_or(&TABLE[0])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn table_is_complete() {
        for (index, (media_type, name, _)) in TABLE.iter().enumerate() {
            assert_eq!(
                TABLE.iter().position(|(other, _, _)| other == media_type),
                Some(index)
            );
            assert_eq!(MediaType::from_name(name).unwrap(), *media_type);
        }
    }

    #[test]
    fn aliases_and_case() {
        assert_eq!(
            MediaType::from_name("md-msg-hist").unwrap(),
            MediaType::History
        );
        assert_eq!(MediaType::from_name("IMAGE").unwrap(), MediaType::Image);
        assert_eq!(MediaType::Sticker.info(), "WhatsApp Image Keys");
        assert!(MediaType::from_name("picture").is_err());
    }
}
