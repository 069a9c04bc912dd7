//! The one place that calls the node world's host imports (other than
//! `wasi:http`, which lives in `http::transport`), so that every other module
//! is plain Rust.

use crate::bindings::n8n_work::node as wit;

/// Writes a step log line.
pub(crate) fn log(level: wit::log::Level, message: &str) {
    wit::log::log(level, message);
}

/// The credential in slot `name` as JSON text, or the host's refusal.
pub(crate) fn credential(name: &str) -> Result<String, String> {
    wit::credentials::get(name)
}

/// The node's state under `key`.
pub(crate) fn state_get(key: &str) -> Option<Vec<u8>> {
    wit::state::get(key)
}

/// Stores `value` under `key`.
pub(crate) fn state_set(key: &str, value: &[u8]) -> Result<(), String> {
    wit::state::set(key, value)
}

/// Deletes `key`.
pub(crate) fn state_delete(key: &str) {
    wit::state::delete(key);
}

/// Up to `len` bytes of binary `id` from `offset`.
pub(crate) fn binary_read(id: &str, offset: u64, len: u32) -> Result<Vec<u8>, String> {
    wit::binary::read(id, offset, len)
}

/// The host's binary writer resource.
pub(crate) struct HostBinaryWriter(wit::binary::Writer);

impl HostBinaryWriter {
    /// Starts a new binary.
    pub(crate) fn new(mime_type: &str, file_name: Option<&str>) -> Self {
        HostBinaryWriter(wit::binary::Writer::new(mime_type, file_name))
    }

    /// Appends one chunk.
    pub(crate) fn append(&self, chunk: &[u8]) -> Result<(), String> {
        self.0.append(chunk)
    }

    /// Seals the binary.
    pub(crate) fn finish(self) -> Result<wit::types::BinaryRef, String> {
        self.0.finish()
    }
}
