//! Output files that appear only when complete: written to a temporary file in the destination
//! directory, synced, then renamed over the destination. Until then the destination is left
//! untouched, and a failed or abandoned write removes the temporary file.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rand_core::{OsRng, RngCore};

use crate::error::MediaError;

/// Permissions of a file while it is written and after it is committed: owner read and write,
/// because decrypted media is private to the user.
const PRIVATE_FILE_MODE: u32 = 0o600;

pub(crate) struct AtomicFile {
    file: File,
    temp_path: PathBuf,
    final_path: PathBuf,
    committed: bool,
}

impl AtomicFile {
    pub(crate) fn create(final_path: &Path) -> Result<AtomicFile, MediaError> {
        let name = final_path.file_name().ok_or_else(|| {
            MediaError::InvalidArgument(format!(
                "output path {} does not name a file",
                final_path.display()
            ))
        })?;
        let directory = match final_path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut suffix = [0u8; 8];
        OsRng.fill_bytes(&mut suffix);
        let suffix: String = suffix.iter().map(|byte| format!("{byte:02x}")).collect();
        let temp_path = directory.join(format!(".{}.{suffix}.part", name.to_string_lossy()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(PRIVATE_FILE_MODE)
            .open(&temp_path)
            .map_err(|error| {
                MediaError::io(
                    format!("cannot create a file in {}", directory.display()),
                    error,
                )
            })?;
        Ok(AtomicFile {
            file,
            temp_path,
            final_path: final_path.to_path_buf(),
            committed: false,
        })
    }

    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Sync the data and rename the temporary file to the destination.
    pub(crate) fn commit(mut self) -> Result<(), MediaError> {
        self.file.sync_all().map_err(|error| {
            MediaError::io(format!("cannot sync {}", self.temp_path.display()), error)
        })?;
        fs::rename(&self.temp_path, &self.final_path).map_err(|error| {
            MediaError::io(
                format!("cannot rename to {}", self.final_path.display()),
                error,
            )
        })?;
        self.committed = true;
        // Syncing the directory makes the rename durable. Some file systems refuse to sync a
        // directory; the data itself is already synced, so that is not an error.
        if let Some(parent) = self.final_path.parent() {
            let directory = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            if let Ok(handle) = File::open(directory) {
                let _ = handle.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.temp_path);
        }
    }
}
