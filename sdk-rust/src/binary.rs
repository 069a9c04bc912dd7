//! Binary data by reference: large payloads never travel inside the JSON.
//!
//! ```no_run
//! use n8n_work_sdk::binary;
//!
//! # fn run() -> Result<(), n8n_work_sdk::NodeError> {
//! let written = binary::write(b"hello", "text/plain", Some("hello.txt"))?;
//! assert_eq!(binary::read_all(&written)?, b"hello");
//! # Ok(())
//! # }
//! ```

use crate::host::HostBinaryWriter;
use crate::{BinaryRef, NodeError, host};

/// How many bytes travel to or from the host in one call.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// The code of every error in this module.
const BINARY_ERROR: &str = "binary_error";

/// Up to `len` bytes of `binary` from `offset`; fewer means the end was
/// reached.
pub fn read(binary: &BinaryRef, offset: u64, len: u32) -> Result<Vec<u8>, NodeError> {
    host::binary_read(&binary.id, offset, len).map_err(|message| read_error(binary, &message))
}

/// All of `binary`'s bytes.
pub fn read_all(binary: &BinaryRef) -> Result<Vec<u8>, NodeError> {
    let expected = usize::try_from(binary.size).unwrap_or(usize::MAX);
    let mut bytes = Vec::with_capacity(expected.min(64 * 1024 * 1024));
    let chunk = u32::try_from(CHUNK_BYTES).unwrap_or(u32::MAX);
    loop {
        let offset = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        let part = read(binary, offset, chunk)?;
        let done = part.len() < CHUNK_BYTES;
        bytes.extend_from_slice(&part);
        if done {
            return Ok(bytes);
        }
    }
}

/// Stores `bytes` as a new binary and returns its reference.
pub fn write(
    bytes: &[u8],
    mime_type: &str,
    file_name: Option<&str>,
) -> Result<BinaryRef, NodeError> {
    let mut writer = Writer::new(mime_type, file_name);
    writer.append(bytes)?;
    writer.finish()
}

/// Builds one new binary from chunks, for data that arrives in parts.
pub struct Writer {
    host: HostBinaryWriter,
    mime_type: String,
}

impl Writer {
    /// Starts a binary of type `mime_type`, named `file_name`.
    pub fn new(mime_type: &str, file_name: Option<&str>) -> Self {
        Writer {
            host: HostBinaryWriter::new(mime_type, file_name),
            mime_type: mime_type.to_owned(),
        }
    }

    /// Appends `bytes`, in chunks of at most [`CHUNK_BYTES`].
    pub fn append(&mut self, bytes: &[u8]) -> Result<(), NodeError> {
        for chunk in bytes.chunks(CHUNK_BYTES) {
            self.host.append(chunk).map_err(|message| {
                NodeError::fatal(format!(
                    "cannot write binary ({}): {message}",
                    self.mime_type
                ))
                .with_code(BINARY_ERROR)
            })?;
        }
        Ok(())
    }

    /// Seals the binary and returns its reference.
    pub fn finish(self) -> Result<BinaryRef, NodeError> {
        let mime_type = self.mime_type;
        self.host.finish().map(Into::into).map_err(|message| {
            NodeError::fatal(format!("cannot finish binary ({mime_type}): {message}"))
                .with_code(BINARY_ERROR)
        })
    }
}

fn read_error(binary: &BinaryRef, message: &str) -> NodeError {
    let name = binary.file_name.as_deref().unwrap_or(&binary.id);
    NodeError::fatal(format!("cannot read binary `{name}`: {message}")).with_code(BINARY_ERROR)
}
