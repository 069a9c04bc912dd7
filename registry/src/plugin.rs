//! The plugin artifact: a node's component in the wasm OCI artifact layout
//! (config `application/vnd.wasm.config.v0+json`, one `application/wasm`
//! layer), with the node's spec from `describe()` in the manifest's
//! annotations so that a registry UI or the marketplace can show what a
//! plugin asks for without downloading it.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::manifest::{Descriptor, ImageManifest};
use crate::media_types;

/// Annotation: the node's name.
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
/// Annotation: the node's version.
pub const ANNOTATION_VERSION: &str = "org.opencontainers.image.version";
/// Annotation: the node's description.
pub const ANNOTATION_DESCRIPTION: &str = "org.opencontainers.image.description";
/// Annotation: the node's display name.
pub const ANNOTATION_DISPLAY_NAME: &str = "dev.n8n-work.node.display-name";
/// Annotation: the egress the node asks for, a JSON array of `{origin, reason}`.
pub const ANNOTATION_EGRESS: &str = "dev.n8n-work.node.egress";
/// Annotation: the credentials the node can use, a JSON array of credential slots.
pub const ANNOTATION_CREDENTIALS: &str = "dev.n8n-work.node.credentials";
/// Annotation: the node's icon (a data URL or a symbol name).
pub const ANNOTATION_ICON: &str = "dev.n8n-work.node.icon";
/// Annotation: the whole spec as JSON; the source of truth when reading back.
pub const ANNOTATION_SPEC: &str = "dev.n8n-work.node.spec";

/// A credential a node can use (the WIT `credential-slot`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialNeed {
    /// The name the node asks for.
    pub name: String,
    /// Credential types accepted (`slack-bot-token`).
    pub types: Vec<String>,
    /// Whether the node cannot work without it.
    pub required: bool,
    /// What it is used for.
    #[serde(default)]
    pub description: String,
}

/// An origin a node needs to reach (the WIT `egress-need`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EgressNeed {
    /// A grant pattern (`https://slack.com`) or `param:<name>`.
    pub origin: String,
    /// Why.
    #[serde(default)]
    pub reason: String,
}

/// A node's spec as the plugin carries it: the JSON of the runtime's
/// `NodeSpec` (from `describe()`), with the fields the registry reads named
/// and every other field (`paramsSchema`, `outputs`, …) kept as it is, so
/// this crate does not depend on the runtime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginSpec {
    /// Short, lowercase, unique within its publisher (`slack`).
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// Name shown to people.
    #[serde(default)]
    pub display_name: String,
    /// What it does.
    #[serde(default)]
    pub description: String,
    /// An icon (data URL or symbol name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// Credentials it can use.
    #[serde(default)]
    pub credentials: Vec<CredentialNeed>,
    /// Origins it needs to reach.
    #[serde(default)]
    pub egress: Vec<EgressNeed>,
    /// The rest of the spec, kept verbatim.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// Why bytes are not a plugin artifact, or a spec not a publishable one.
#[derive(Debug, thiserror::Error)]
pub enum PluginFormatError {
    /// The manifest is not JSON of an OCI image manifest.
    #[error("plugin manifest {digest}: not an OCI image manifest: {reason}")]
    NotAManifest {
        /// The manifest's digest.
        digest: Digest,
        /// The parse error.
        reason: String,
    },
    /// The manifest is not in the wasm artifact layout.
    #[error(
        "plugin manifest {digest}: {reason}; a plugin has config `{}` and exactly one `{}` layer",
        media_types::WASM_CONFIG,
        media_types::WASM_LAYER
    )]
    NotAPlugin {
        /// The manifest's digest.
        digest: Digest,
        /// What is wrong.
        reason: String,
    },
    /// The spec annotation is missing or not a valid spec.
    #[error("plugin manifest {digest}: annotation `{ANNOTATION_SPEC}` {reason}")]
    BadSpec {
        /// The manifest's digest.
        digest: Digest,
        /// What is wrong.
        reason: String,
    },
    /// The spec cannot be published as it is.
    #[error("node spec: {0}")]
    InvalidSpec(String),
    /// The file is not a WebAssembly binary.
    #[error(
        "the plugin file is not WebAssembly (it does not start with `\\0asm`); build the node for wasm32-wasip2"
    )]
    NotWasm,
}

/// A plugin ready to push: its manifest, config and component, with digests.
#[derive(Debug, Clone)]
pub struct PluginArtifact {
    /// The node's spec.
    pub spec: PluginSpec,
    /// The manifest's bytes, exactly as pushed.
    pub manifest: Bytes,
    /// The manifest's digest: what a signature signs and an install pins.
    pub manifest_digest: Digest,
    /// The config blob.
    pub config: Bytes,
    /// The component.
    pub wasm: Bytes,
}

/// A plugin manifest read back: the spec and where the component is.
#[derive(Debug, Clone)]
pub struct PluginManifest {
    /// The node's spec.
    pub spec: PluginSpec,
    /// The config descriptor.
    pub config: Descriptor,
    /// The component's descriptor.
    pub layer: Descriptor,
    /// The parsed manifest.
    pub manifest: ImageManifest,
}

/// The wasm artifact config (wasm OCI artifact layout, v0).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WasmConfig<'a> {
    architecture: &'a str,
    os: &'a str,
    layer_digests: Vec<String>,
}

fn validate_spec(spec: &PluginSpec) -> Result<(), PluginFormatError> {
    let name_ok = !spec.name.is_empty()
        && spec
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !name_ok {
        return Err(PluginFormatError::InvalidSpec(format!(
            "name `{}` must be non-empty lowercase letters, digits, `-` or `_`",
            spec.name
        )));
    }
    if spec.version.trim().is_empty() {
        return Err(PluginFormatError::InvalidSpec(format!(
            "node `{}` has no version; set `version` (semantic version)",
            spec.name
        )));
    }
    Ok(())
}

impl PluginArtifact {
    /// Lays out `wasm` with `spec` as a plugin artifact.
    pub fn build(wasm: Bytes, spec: PluginSpec) -> Result<Self, PluginFormatError> {
        if !wasm.starts_with(b"\0asm") {
            return Err(PluginFormatError::NotWasm);
        }
        validate_spec(&spec)?;
        let mut layer = Descriptor::of(media_types::WASM_LAYER, &wasm);
        layer
            .annotations
            .insert(ANNOTATION_TITLE.into(), format!("{}.wasm", spec.name));
        let config = serde_json::to_vec(&WasmConfig {
            architecture: "wasm",
            os: "wasip2",
            layer_digests: vec![layer.digest.to_string()],
        })
        .expect("config serializes");
        let mut manifest = ImageManifest::new(
            Descriptor::of(media_types::WASM_CONFIG, &config),
            vec![layer],
        );
        let a = &mut manifest.annotations;
        a.insert(ANNOTATION_TITLE.into(), spec.name.clone());
        a.insert(ANNOTATION_VERSION.into(), spec.version.clone());
        a.insert(ANNOTATION_DESCRIPTION.into(), spec.description.clone());
        a.insert(ANNOTATION_DISPLAY_NAME.into(), spec.display_name.clone());
        a.insert(ANNOTATION_EGRESS.into(), json(&spec.egress));
        a.insert(ANNOTATION_CREDENTIALS.into(), json(&spec.credentials));
        if let Some(icon) = &spec.icon {
            a.insert(ANNOTATION_ICON.into(), icon.clone());
        }
        a.insert(ANNOTATION_SPEC.into(), json(&spec));
        let manifest = Bytes::from(manifest.to_bytes());
        Ok(Self {
            spec,
            manifest_digest: Digest::of(&manifest),
            manifest,
            config: Bytes::from(config),
            wasm,
        })
    }
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("spec serializes")
}

impl PluginManifest {
    /// Reads a plugin manifest, checking the layout and the spec.
    pub fn parse(bytes: &[u8]) -> Result<Self, PluginFormatError> {
        let digest = Digest::of(bytes);
        let manifest: ImageManifest =
            serde_json::from_slice(bytes).map_err(|e| PluginFormatError::NotAManifest {
                digest: digest.clone(),
                reason: e.to_string(),
            })?;
        let not_plugin = |reason: String| PluginFormatError::NotAPlugin {
            digest: digest.clone(),
            reason,
        };
        if manifest.config.media_type != media_types::WASM_CONFIG {
            return Err(not_plugin(format!(
                "config has media type `{}`",
                manifest.config.media_type
            )));
        }
        let [layer] = manifest.layers.as_slice() else {
            return Err(not_plugin(format!(
                "it has {} layers",
                manifest.layers.len()
            )));
        };
        if layer.media_type != media_types::WASM_LAYER {
            return Err(not_plugin(format!(
                "its layer has media type `{}`",
                layer.media_type
            )));
        }
        let Some(spec) = manifest.annotations.get(ANNOTATION_SPEC) else {
            return Err(PluginFormatError::BadSpec {
                digest,
                reason: "is missing; publish with `n8n-work plugin publish`".into(),
            });
        };
        let spec: PluginSpec =
            serde_json::from_str(spec).map_err(|e| PluginFormatError::BadSpec {
                digest: digest.clone(),
                reason: format!("is not a node spec: {e}"),
            })?;
        Ok(Self {
            spec,
            config: manifest.config.clone(),
            layer: layer.clone(),
            manifest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> PluginSpec {
        serde_json::from_value(serde_json::json!({
            "name": "slack",
            "version": "1.0.0",
            "displayName": "Slack",
            "description": "Post messages",
            "icon": "slack",
            "paramsSchema": {"type": "object"},
            "credentials": [{"name": "slack", "types": ["slack-bot-token"], "required": true, "description": "bot"}],
            "egress": [{"origin": "https://slack.com", "reason": "API"}],
            "outputs": [{"name": "main", "displayName": "Main"}]
        }))
        .unwrap()
    }

    #[test]
    fn artifact_round_trips_the_spec_and_is_deterministic() {
        let wasm = Bytes::from_static(b"\0asm\x0d\0\x01\0");
        let a = PluginArtifact::build(wasm.clone(), spec()).unwrap();
        let b = PluginArtifact::build(wasm, spec()).unwrap();
        assert_eq!(a.manifest_digest, b.manifest_digest);
        let parsed = PluginManifest::parse(&a.manifest).unwrap();
        assert_eq!(parsed.spec, spec());
        assert_eq!(
            parsed.spec.other["paramsSchema"],
            serde_json::json!({"type": "object"})
        );
        assert_eq!(parsed.layer.digest, Digest::of(&a.wasm));
        assert_eq!(parsed.config.media_type, media_types::WASM_CONFIG);
        let a = &parsed.manifest.annotations;
        assert_eq!(a[ANNOTATION_TITLE], "slack");
        assert_eq!(
            a[ANNOTATION_EGRESS],
            r#"[{"origin":"https://slack.com","reason":"API"}]"#
        );
    }

    #[test]
    fn non_wasm_and_nameless_specs_are_refused() {
        assert!(matches!(
            PluginArtifact::build(Bytes::from_static(b"ELF"), spec()),
            Err(PluginFormatError::NotWasm)
        ));
        let mut bad = spec();
        bad.name = "Bad Name".into();
        let err = PluginArtifact::build(Bytes::from_static(b"\0asm"), bad).unwrap_err();
        assert!(err.to_string().contains("`Bad Name`"), "{err}");
    }
}
