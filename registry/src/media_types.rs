//! Media types the registry and the plugin format use.

/// An OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// An OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// A Docker image manifest, schema 2 (accepted for interop with Docker tooling).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// A Docker manifest list (accepted for interop with Docker tooling).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The OCI empty descriptor's media type (artifacts without a config).
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// An OCI image config.
pub const OCI_IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// The config of a wasm OCI artifact (CNCF TAG Runtime's wasm artifact layout).
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// A wasm component or module layer.
pub const WASM_LAYER: &str = "application/wasm";
/// cosign's simple-signing payload layer.
pub const COSIGN_SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// The manifest media types the registry accepts on push.
pub const MANIFEST_TYPES: [&str; 4] = [
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

/// Whether `media_type` is a list of manifests rather than one manifest.
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}
