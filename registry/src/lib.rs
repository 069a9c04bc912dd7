//! The plugin registry: an OCI Distribution Spec v1.1 server and client,
//! the plugin artifact format, and cosign-format signatures.
//!
//! In the data flow (see `docs/architecture.md`) the registry sits beside the
//! platform rather than in a run's path: `n8n-work plugin publish` pushes a
//! node's component here, and installing a plugin pulls and verifies it
//! before the runtime ever compiles it.
//!
//! The principal types are [`server::Registry`] (served by
//! [`server::router`]) over a [`storage::RegistryStorage`]
//! ([`storage::FsStorage`] by default).

pub mod cli;
pub mod client;
pub mod digest;
pub mod manifest;
pub mod marketplace;
pub mod media_types;
pub mod names;
pub mod plugin;
pub mod server;
pub mod signature;
pub mod storage;

pub use digest::Digest;
pub use marketplace::{Marketplace, marketplace_router};
pub use names::{RepositoryName, Tag};
pub use server::{Registry, RegistryConfig, router};

/// `bytes` random bytes from the OS, as lowercase hex.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut buf);
    hex::encode(buf)
}
