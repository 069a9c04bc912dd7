//! The marketplace over the registry: an index of the plugins in it (search,
//! versions, publisher, a verified badge, install counts) and, per tenant, the
//! trust policy and the approval flow that turns a plugin reference into an
//! installed, digest-pinned plugin.
//!
//! The index is computed from the registry's own storage, so it is never out
//! of date with what was pushed. What the registry does not hold (known
//! publishers, tenant policies, install requests, installs, the audit list
//! and install counts) lives in a [`MarketplaceStore`]; [`FsMarketplaceStore`]
//! keeps it next to the registry's files.
//!
//! An install is always a decision by a tenant's admin: the first install of
//! a plugin waits as a pending request until approved or rejected, with the
//! reason recorded in the tenant's audit list. An upgrade that asks for no
//! capability beyond what the installed version was approved for goes
//! through at once; one that asks for more waits again, and the request shows
//! exactly what it adds.

mod routes;
mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

pub use routes::{ACTOR_HEADER, TENANT_HEADER, marketplace_router};
pub use store::{FsMarketplaceStore, MarketplaceStore};

use crate::digest::Digest;
use crate::manifest::ImageManifest;
use crate::media_types;
use crate::names::{RepositoryName, Tag};
use crate::plugin::{PluginManifest, PluginSpec};
use crate::signature::{
    self, PublicKey, StoredSignature, TrustPolicy, TrustedKey, Verification, VerifyError,
};
use crate::storage::{RegistryStorage, StorageError};

/// What a plugin may do beyond computing: the origins it reaches and the
/// credential types it uses, from its spec's annotations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    /// Egress origins (`https://slack.com`, or `param:<name>`).
    pub egress: BTreeSet<String>,
    /// Credential types (`slack-bot-token`).
    pub credential_types: BTreeSet<String>,
}

impl Capabilities {
    /// The capabilities a spec asks for.
    pub fn of(spec: &PluginSpec) -> Self {
        Self {
            egress: spec.egress.iter().map(|e| e.origin.clone()).collect(),
            credential_types: spec
                .credentials
                .iter()
                .flat_map(|c| c.types.iter().cloned())
                .collect(),
        }
    }

    /// What `self` asks for that `approved` does not grant.
    pub fn beyond(&self, approved: &Self) -> Self {
        Self {
            egress: self.egress.difference(&approved.egress).cloned().collect(),
            credential_types: self
                .credential_types
                .difference(&approved.credential_types)
                .cloned()
                .collect(),
        }
    }

    /// Whether nothing is asked for.
    pub fn is_empty(&self) -> bool {
        self.egress.is_empty() && self.credential_types.is_empty()
    }
}

/// A node's effective egress: what the workflow grants, intersected with
/// what the tenant approved for the plugin. Grants are compared as written.
pub fn effective_egress(workflow_grants: &[String], approved: &Capabilities) -> Vec<String> {
    workflow_grants
        .iter()
        .filter(|g| approved.egress.contains(g.as_str()))
        .cloned()
        .collect()
}

/// A public key as stored in a policy or the publishers list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRecord {
    /// A name for people (the publisher).
    pub name: String,
    /// The public key, PEM.
    pub public_key_pem: String,
}

/// A tenant's trust policy, as stored and served.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRecord {
    /// Trusted publisher keys.
    #[serde(default)]
    pub trusted_keys: Vec<KeyRecord>,
    /// Whether a plugin without any signature may be installed (default no).
    #[serde(default)]
    pub allow_unsigned: bool,
}

impl PolicyRecord {
    fn to_policy(&self) -> Result<TrustPolicy, MarketError> {
        let trusted_keys = self
            .trusted_keys
            .iter()
            .map(|k| {
                Ok(TrustedKey {
                    name: k.name.clone(),
                    key: PublicKey::from_pem(&k.public_key_pem, &k.name)
                        .map_err(|e| MarketError::BadRequest(e.to_string()))?,
                })
            })
            .collect::<Result<_, MarketError>>()?;
        Ok(TrustPolicy {
            trusted_keys,
            allow_unsigned: self.allow_unsigned,
        })
    }
}

/// Where an install request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    /// Waiting for an admin.
    Pending,
    /// Approved: the plugin is installed at the request's digest.
    Approved,
    /// Refused by an admin.
    Rejected,
}

/// A request to install (or upgrade) a plugin in a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallRequest {
    /// Its id within the tenant.
    pub id: u64,
    /// The repository (`plugins/slack`).
    pub repository: String,
    /// The reference asked for (a tag, or the digest).
    pub reference: String,
    /// The digest the reference resolved to; what an approval pins.
    pub digest: Digest,
    /// The plugin's version.
    pub version: String,
    /// Who asked.
    pub requested_by: String,
    /// Where it stands.
    pub status: RequestStatus,
    /// Everything this version asks for.
    pub capabilities: Capabilities,
    /// For an upgrade, what it asks for beyond the installed version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_capabilities: Option<Capabilities>,
    /// The installed version this would replace, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrades_from: Option<String>,
    /// How the signature checked out.
    pub verification: String,
    /// The admin who decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A plugin installed in a tenant, pinned to a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstalledPlugin {
    /// The repository.
    pub repository: String,
    /// The node's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The pinned manifest digest: what the runtime pulls.
    pub digest: Digest,
    /// What the tenant approved it for.
    pub capabilities: Capabilities,
    /// Who approved it (`auto` for an upgrade within the approved capabilities).
    pub approved_by: String,
}

/// One entry of a tenant's audit list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Seconds since the Unix epoch.
    pub at: u64,
    /// Who acted.
    pub actor: String,
    /// `request`, `approve`, `reject`, `install`, `upgrade`, `remove`, `policy`.
    pub action: String,
    /// The repository involved, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The digest involved, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// The reason given, or what happened.
    #[serde(default)]
    pub detail: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TenantState {
    #[serde(default)]
    policy: PolicyRecord,
    #[serde(default)]
    requests: Vec<InstallRequest>,
    #[serde(default)]
    installed: Vec<InstalledPlugin>,
    #[serde(default)]
    audit: Vec<AuditEntry>,
}

/// A publisher name in the index, with its key and the tenant that claimed
/// it (absent on names registered before names had owners).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublisherClaim {
    name: String,
    public_key_pem: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    claimed_by: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Shared {
    #[serde(default)]
    publishers: Vec<PublisherClaim>,
    #[serde(default)]
    install_counts: BTreeMap<String, u64>,
}

/// One version of a plugin in the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionEntry {
    /// The tag.
    pub tag: String,
    /// The spec's version.
    pub version: String,
    /// The manifest digest.
    pub digest: Digest,
    /// The publisher whose key signed it (a known publisher or a key the
    /// tenant trusts), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    /// That key's fingerprint (its id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher_key: Option<String>,
    /// Whether the signature checks against a key the asking tenant trusts.
    pub verified: bool,
    /// What it asks for.
    pub capabilities: Capabilities,
}

/// A plugin in the index: its newest version's spec, and every version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginEntry {
    /// The repository (`plugins/slack`).
    pub repository: String,
    /// The node's name.
    pub name: String,
    /// Its display name.
    pub display_name: String,
    /// Its description.
    pub description: String,
    /// Its icon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// The spec's `categories`.
    pub categories: Vec<String>,
    /// The spec's `tags` (keywords).
    pub tags: Vec<String>,
    /// Every version, newest first.
    pub versions: Vec<VersionEntry>,
    /// Installs across tenants.
    pub installs: u64,
}

/// A search: every field optional, all given must match.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SearchQuery {
    /// Words in the name, display name or description (case-insensitive).
    #[serde(default)]
    pub q: Option<String>,
    /// A keyword tag, or a version tag.
    #[serde(default)]
    pub tag: Option<String>,
    /// A category.
    #[serde(default)]
    pub category: Option<String>,
    /// The tenant whose trusted keys decide the verified badge.
    #[serde(default)]
    pub tenant: Option<String>,
}

/// What an install request led to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallOutcome {
    /// `pending` (an admin must approve), `installed`, or `unchanged`.
    pub status: String,
    /// The request.
    pub request: InstallRequest,
}

/// Why a marketplace action failed.
#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    /// The input is wrong; the message says how to fix it.
    #[error("{0}")]
    BadRequest(String),
    /// What was named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The action conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The caller may not see or do this; the message says what it may.
    #[error("{0}")]
    Forbidden(String),
    /// The plugin's signature does not satisfy the tenant's policy.
    #[error("install refused: {0}")]
    Refused(#[from] VerifyError),
    /// Stored content does not match its digest.
    #[error(
        "install refused: {what} of {reference} is tampered: stored bytes have digest {computed}, the manifest names {expected}"
    )]
    Tampered {
        /// The plugin.
        reference: String,
        /// `the component` or `the manifest`.
        what: &'static str,
        /// The digest the manifest names.
        expected: Digest,
        /// The digest of the stored bytes.
        computed: Digest,
    },
    /// The registry or marketplace storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The marketplace: the registry's storage, read for the index, and a store
/// for what the marketplace adds. Cheap to clone.
#[derive(Clone)]
pub struct Marketplace {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Arc<dyn RegistryStorage>,
    store: Arc<dyn MarketplaceStore>,
    // Serializes read-modify-write of the stored documents.
    write: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Marketplace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Marketplace").finish_non_exhaustive()
    }
}

fn check_tenant(tenant: &str) -> Result<(), MarketError> {
    let ok = !tenant.is_empty()
        && tenant.len() <= 64
        && tenant
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(MarketError::BadRequest(format!(
            "tenant `{tenant}` must be 1 to 64 lowercase letters, digits, `-` or `_`"
        )))
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn strings(spec: &PluginSpec, field: &str) -> Vec<String> {
    spec.other
        .get(field)
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Orders versions numerically where they are `x.y.z`, else as text.
fn version_key(version: &str) -> (Vec<u64>, String) {
    let core = version.split(['-', '+']).next().unwrap_or(version);
    let numbers = core.split('.').map(|p| p.parse().unwrap_or(0)).collect();
    (numbers, version.to_owned())
}

/// A plugin version read from the registry and checked.
struct Checked {
    digest: Digest,
    spec: PluginSpec,
    verification: Verification,
    wasm: Vec<u8>,
}

impl Marketplace {
    /// A marketplace over the registry's `registry` storage, keeping its own
    /// state in `store`.
    pub fn new(registry: Arc<dyn RegistryStorage>, store: Arc<dyn MarketplaceStore>) -> Self {
        Self {
            inner: Arc::new(Inner {
                registry,
                store,
                write: tokio::sync::Mutex::new(()),
            }),
        }
    }

    async fn load<T: Default + for<'de> Deserialize<'de>>(
        &self,
        key: &str,
    ) -> Result<T, MarketError> {
        match self.inner.store.load(key).await? {
            None => Ok(T::default()),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                MarketError::Storage(StorageError::Corrupt {
                    path: key.to_owned(),
                    reason: e.to_string(),
                })
            }),
        }
    }

    async fn save<T: Serialize>(&self, key: &str, value: &T) -> Result<(), MarketError> {
        let bytes = serde_json::to_vec_pretty(value).expect("marketplace state serializes");
        Ok(self.inner.store.save(key, &bytes).await?)
    }

    async fn tenant(&self, tenant: &str) -> Result<TenantState, MarketError> {
        check_tenant(tenant)?;
        self.load(&format!("tenants/{tenant}.json")).await
    }

    async fn save_tenant(&self, tenant: &str, state: &TenantState) -> Result<(), MarketError> {
        self.save(&format!("tenants/{tenant}.json"), state).await
    }

    /// Registers a publisher's public key for `tenant`, so the index can
    /// name who signed a plugin even for tenants that do not trust them.
    ///
    /// A name belongs to the tenant that claimed it first: that tenant may
    /// change its key (or rename it), another tenant's claim of the name is
    /// a [`MarketError::Conflict`], and so is naming a key another tenant
    /// already named. Otherwise anyone could have their plugins shown as
    /// "by Slack".
    pub async fn add_publisher(
        &self,
        tenant: &str,
        publisher: KeyRecord,
    ) -> Result<String, MarketError> {
        check_tenant(tenant)?;
        let key = PublicKey::from_pem(&publisher.public_key_pem, &publisher.name)
            .map_err(|e| MarketError::BadRequest(e.to_string()))?;
        let _guard = self.inner.write.lock().await;
        let mut shared: Shared = self.load("shared.json").await?;
        let ours = |p: &PublisherClaim| p.claimed_by.as_deref() == Some(tenant);
        let same_key = |p: &PublisherClaim| {
            PublicKey::from_pem(&p.public_key_pem, &p.name).ok() == Some(key.clone())
        };
        if let Some(taken) = shared
            .publishers
            .iter()
            .find(|p| p.name == publisher.name && !ours(p))
            // A name registered before names had owners is taken over only
            // with the key it already has, which changes nothing shown.
            .filter(|p| p.claimed_by.is_some() || !same_key(p))
        {
            return Err(MarketError::Conflict(format!(
                "publisher name `{}` is claimed by another tenant; register your key under another name (a publisher name belongs to the tenant that claimed it first)",
                taken.name
            )));
        }
        if let Some(named) = shared
            .publishers
            .iter()
            .find(|p| p.name != publisher.name && !ours(p) && same_key(p))
        {
            return Err(MarketError::Conflict(format!(
                "key {} is already named `{}` by another tenant; a key names one publisher, so register a key of your own",
                key.key_id(),
                named.name
            )));
        }
        shared
            .publishers
            .retain(|p| p.name != publisher.name && !(ours(p) && same_key(p)));
        shared.publishers.push(PublisherClaim {
            name: publisher.name,
            public_key_pem: publisher.public_key_pem,
            claimed_by: Some(tenant.to_owned()),
        });
        self.save("shared.json", &shared).await?;
        Ok(key.key_id())
    }

    /// A tenant's trust policy (nothing trusted, unsigned refused, if never set).
    pub async fn policy(&self, tenant: &str) -> Result<PolicyRecord, MarketError> {
        Ok(self.tenant(tenant).await?.policy)
    }

    /// Replaces a tenant's trust policy.
    pub async fn set_policy(
        &self,
        tenant: &str,
        actor: &str,
        policy: PolicyRecord,
    ) -> Result<(), MarketError> {
        policy.to_policy()?;
        let _guard = self.inner.write.lock().await;
        let mut state = self.tenant(tenant).await?;
        let detail = format!(
            "trusted keys: [{}]; unsigned {}",
            policy
                .trusted_keys
                .iter()
                .map(|k| k.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if policy.allow_unsigned {
                "allowed"
            } else {
                "refused"
            }
        );
        state.policy = policy;
        state.audit.push(AuditEntry {
            at: now(),
            actor: actor.to_owned(),
            action: "policy".into(),
            repository: None,
            digest: None,
            detail,
        });
        self.save_tenant(tenant, &state).await
    }

    async fn signatures(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<Vec<StoredSignature>, MarketError> {
        let storage = &self.inner.registry;
        let Some(sig_digest) = storage
            .resolve_tag(repository, &signature::signature_tag(digest))
            .await?
        else {
            return Ok(Vec::new());
        };
        let Some(stored) = storage.manifest(repository, &sig_digest).await? else {
            return Ok(Vec::new());
        };
        let Ok(manifest) = serde_json::from_slice::<ImageManifest>(&stored.bytes) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for layer in manifest.layers {
            if layer.media_type != media_types::COSIGN_SIMPLE_SIGNING {
                continue;
            }
            let payload = self.read_all(&layer.digest).await?.unwrap_or_default();
            out.push(StoredSignature { layer, payload });
        }
        Ok(out)
    }

    async fn read_all(&self, digest: &Digest) -> Result<Option<Vec<u8>>, MarketError> {
        let Some(mut read) = self.inner.registry.read_blob(digest, None).await? else {
            return Ok(None);
        };
        let mut bytes = Vec::with_capacity(read.total_size as usize);
        while let Some(chunk) = read.stream.next().await {
            let chunk = chunk.map_err(|source| StorageError::Io {
                action: "read",
                path: digest.to_string(),
                source,
            })?;
            bytes.extend_from_slice(&chunk);
        }
        Ok(Some(bytes))
    }

    async fn plugin_manifest(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<PluginManifest>, MarketError> {
        let Some(stored) = self.inner.registry.manifest(repository, digest).await? else {
            return Ok(None);
        };
        let computed = Digest::of(&stored.bytes);
        if &computed != digest {
            return Err(MarketError::Tampered {
                reference: format!("{repository}@{digest}"),
                what: "the manifest",
                expected: digest.clone(),
                computed,
            });
        }
        Ok(PluginManifest::parse(&stored.bytes).ok())
    }

    /// Who signed `digest` for `repository`, among `keys`: (name, key id).
    fn signer(
        keys: &[TrustedKey],
        repository: &RepositoryName,
        digest: &Digest,
        signatures: &[StoredSignature],
    ) -> Option<(String, String)> {
        let policy = TrustPolicy {
            trusted_keys: keys.to_vec(),
            allow_unsigned: false,
        };
        match signature::verify(&policy, "", repository.as_str(), digest, signatures) {
            Ok(Verification::SignedBy { name, key_id }) => Some((name, key_id)),
            _ => None,
        }
    }

    async fn entry(
        &self,
        repository: &RepositoryName,
        publishers: &[TrustedKey],
        trusted: &TrustPolicy,
        counts: &BTreeMap<String, u64>,
    ) -> Result<Option<PluginEntry>, MarketError> {
        let mut versions: Vec<(VersionEntry, PluginSpec)> = Vec::new();
        for tag in self.inner.registry.tags(repository).await? {
            if tag.starts_with("sha256-") && tag.ends_with(".sig") {
                continue;
            }
            let Ok(tag_name) = Tag::new(&tag) else {
                continue;
            };
            let Some(digest) = self
                .inner
                .registry
                .resolve_tag(repository, &tag_name)
                .await?
            else {
                continue;
            };
            // A damaged manifest is left out of the index; installing it says why.
            let Ok(Some(plugin)) = self.plugin_manifest(repository, &digest).await else {
                continue;
            };
            let signatures = self.signatures(repository, &digest).await?;
            let verified = Self::signer(&trusted.trusted_keys, repository, &digest, &signatures);
            let known = verified
                .clone()
                .or_else(|| Self::signer(publishers, repository, &digest, &signatures));
            versions.push((
                VersionEntry {
                    tag,
                    version: plugin.spec.version.clone(),
                    digest,
                    publisher: known.as_ref().map(|k| k.0.clone()),
                    publisher_key: known.map(|k| k.1),
                    verified: verified.is_some(),
                    capabilities: Capabilities::of(&plugin.spec),
                },
                plugin.spec,
            ));
        }
        versions.sort_by_key(|v| std::cmp::Reverse(version_key(&v.0.version)));
        let Some((_, newest)) = versions.first() else {
            return Ok(None);
        };
        let newest = newest.clone();
        Ok(Some(PluginEntry {
            repository: repository.to_string(),
            name: newest.name.clone(),
            display_name: newest.display_name.clone(),
            description: newest.description.clone(),
            icon: newest.icon.clone(),
            categories: strings(&newest, "categories"),
            tags: strings(&newest, "tags"),
            versions: versions.into_iter().map(|(v, _)| v).collect(),
            installs: counts.get(repository.as_str()).copied().unwrap_or(0),
        }))
    }

    async fn index_context(
        &self,
        tenant: Option<&str>,
    ) -> Result<(Vec<TrustedKey>, TrustPolicy, Shared), MarketError> {
        let shared: Shared = self.load("shared.json").await?;
        let publishers = shared
            .publishers
            .iter()
            .filter_map(|p| {
                Some(TrustedKey {
                    name: p.name.clone(),
                    key: PublicKey::from_pem(&p.public_key_pem, &p.name).ok()?,
                })
            })
            .collect();
        let trusted = match tenant {
            Some(t) => self.tenant(t).await?.policy.to_policy()?,
            None => TrustPolicy::default(),
        };
        Ok((publishers, trusted, shared))
    }

    /// The plugins matching `query`, by repository name.
    pub async fn search(&self, query: &SearchQuery) -> Result<Vec<PluginEntry>, MarketError> {
        let (publishers, trusted, shared) = self.index_context(query.tenant.as_deref()).await?;
        let words: Vec<String> = query
            .q
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        let mut out = Vec::new();
        for repository in self.inner.registry.repositories().await? {
            let Some(entry) = self
                .entry(&repository, &publishers, &trusted, &shared.install_counts)
                .await?
            else {
                continue;
            };
            let text = format!(
                "{} {} {} {}",
                entry.repository, entry.name, entry.display_name, entry.description
            )
            .to_lowercase();
            let matches = words.iter().all(|w| text.contains(w.as_str()))
                && query.tag.as_deref().is_none_or(|t| {
                    entry.tags.iter().any(|x| x.eq_ignore_ascii_case(t))
                        || entry.versions.iter().any(|v| v.tag == t)
                })
                && query
                    .category
                    .as_deref()
                    .is_none_or(|c| entry.categories.iter().any(|x| x.eq_ignore_ascii_case(c)));
            if matches {
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// One plugin's entry.
    pub async fn info(
        &self,
        repository: &str,
        tenant: Option<&str>,
    ) -> Result<PluginEntry, MarketError> {
        let name = parse_repository(repository)?;
        let (publishers, trusted, shared) = self.index_context(tenant).await?;
        self.entry(&name, &publishers, &trusted, &shared.install_counts)
            .await?
            .ok_or_else(|| {
                MarketError::NotFound(format!(
                    "no plugin in repository `{repository}`; `plugin search` lists them"
                ))
            })
    }

    /// Resolves and checks `repository:reference` under `policy`: the
    /// manifest and component hash to their digests and the signature
    /// satisfies the policy.
    async fn check(
        &self,
        repository: &RepositoryName,
        reference: &str,
        policy: &TrustPolicy,
    ) -> Result<Checked, MarketError> {
        let shown = format!("{repository}:{reference}");
        let digest = if reference.starts_with("sha256:") {
            reference
                .parse::<Digest>()
                .map_err(|e| MarketError::BadRequest(format!("{shown}: {e}")))?
        } else {
            let tag = Tag::new(reference)
                .map_err(|e| MarketError::BadRequest(format!("{shown}: {e}")))?;
            self.inner
                .registry
                .resolve_tag(repository, &tag)
                .await?
                .ok_or_else(|| {
                    MarketError::NotFound(format!(
                        "{shown}: no such tag; `plugin info {repository}` lists the versions"
                    ))
                })?
        };
        let plugin = self
            .plugin_manifest(repository, &digest)
            .await?
            .ok_or_else(|| {
                MarketError::NotFound(format!(
                    "{shown} ({digest}) is not a plugin in the registry"
                ))
            })?;
        let wasm = self.read_all(&plugin.layer.digest).await?.ok_or_else(|| {
            MarketError::NotFound(format!(
                "{shown}: its component {} is missing from the registry",
                plugin.layer.digest
            ))
        })?;
        let computed = Digest::of(&wasm);
        if computed != plugin.layer.digest {
            return Err(MarketError::Tampered {
                reference: shown,
                what: "the component",
                expected: plugin.layer.digest,
                computed,
            });
        }
        let signatures = self.signatures(repository, &digest).await?;
        let verification =
            signature::verify(policy, &shown, repository.as_str(), &digest, &signatures)?;
        Ok(Checked {
            digest,
            spec: plugin.spec,
            verification,
            wasm,
        })
    }

    /// Asks to install `reference` (`REPOSITORY:TAG` or `REPOSITORY@DIGEST`)
    /// in `tenant`. The plugin is checked first; a refusal is an error. A
    /// first install waits for an admin; an upgrade within the approved
    /// capabilities is installed at once.
    pub async fn request_install(
        &self,
        tenant: &str,
        reference: &str,
        requested_by: &str,
    ) -> Result<InstallOutcome, MarketError> {
        let (repository, tag) = split_reference(reference)?;
        let _guard = self.inner.write.lock().await;
        let mut state = self.tenant(tenant).await?;
        let checked = self
            .check(&repository, &tag, &state.policy.to_policy()?)
            .await?;
        let capabilities = Capabilities::of(&checked.spec);
        let installed = state
            .installed
            .iter()
            .find(|i| i.repository == repository.as_str())
            .cloned();
        let mut request = InstallRequest {
            id: state.requests.iter().map(|r| r.id).max().unwrap_or(0) + 1,
            repository: repository.to_string(),
            reference: tag,
            digest: checked.digest.clone(),
            version: checked.spec.version.clone(),
            requested_by: requested_by.to_owned(),
            status: RequestStatus::Pending,
            capabilities: capabilities.clone(),
            added_capabilities: None,
            upgrades_from: installed.as_ref().map(|i| i.version.clone()),
            verification: describe(&checked.verification),
            decided_by: None,
            reason: None,
        };
        if let Some(installed) = &installed {
            if installed.digest == checked.digest {
                return Ok(InstallOutcome {
                    status: "unchanged".into(),
                    request,
                });
            }
            let added = capabilities.beyond(&installed.capabilities);
            if added.is_empty() {
                request.status = RequestStatus::Approved;
                request.decided_by = Some("auto".into());
                request.reason =
                    Some("upgrade asks for no capability beyond the approved version".into());
                request.added_capabilities = Some(added);
                self.install(&mut state, &request, &checked.spec, "auto")
                    .await?;
                state.requests.push(request.clone());
                self.save_tenant(tenant, &state).await?;
                return Ok(InstallOutcome {
                    status: "installed".into(),
                    request,
                });
            }
            request.added_capabilities = Some(added);
        }
        if let Some(open) = state.requests.iter().find(|r| {
            r.status == RequestStatus::Pending
                && r.repository == request.repository
                && r.digest == request.digest
        }) {
            return Ok(InstallOutcome {
                status: "pending".into(),
                request: open.clone(),
            });
        }
        state.audit.push(AuditEntry {
            at: now(),
            actor: requested_by.to_owned(),
            action: "request".into(),
            repository: Some(request.repository.clone()),
            digest: Some(request.digest.clone()),
            detail: format!("version {} ({})", request.version, request.verification),
        });
        state.requests.push(request.clone());
        self.save_tenant(tenant, &state).await?;
        Ok(InstallOutcome {
            status: "pending".into(),
            request,
        })
    }

    async fn install(
        &self,
        state: &mut TenantState,
        request: &InstallRequest,
        spec: &PluginSpec,
        approved_by: &str,
    ) -> Result<(), MarketError> {
        let upgrade = state
            .installed
            .iter()
            .any(|i| i.repository == request.repository);
        state
            .installed
            .retain(|i| i.repository != request.repository);
        state.installed.push(InstalledPlugin {
            repository: request.repository.clone(),
            name: spec.name.clone(),
            version: spec.version.clone(),
            digest: request.digest.clone(),
            capabilities: request.capabilities.clone(),
            approved_by: approved_by.to_owned(),
        });
        state
            .installed
            .sort_by(|a, b| a.repository.cmp(&b.repository));
        state.audit.push(AuditEntry {
            at: now(),
            actor: approved_by.to_owned(),
            action: if upgrade { "upgrade" } else { "install" }.into(),
            repository: Some(request.repository.clone()),
            digest: Some(request.digest.clone()),
            detail: format!("version {}", spec.version),
        });
        let mut shared: Shared = self.load("shared.json").await?;
        *shared
            .install_counts
            .entry(request.repository.clone())
            .or_default() += 1;
        self.save("shared.json", &shared).await
    }

    /// Approves a pending request: the plugin is checked again (it may have
    /// been tampered with since) and installed, pinned to the request's digest.
    /// `egress`, when given, is the origins the tenant approves instead of
    /// the ones the plugin asks for: fewer, or others (a self-hosted
    /// instance of the provider, say).
    pub async fn approve(
        &self,
        tenant: &str,
        id: u64,
        admin: &str,
        reason: &str,
        egress: Option<BTreeSet<String>>,
    ) -> Result<InstallRequest, MarketError> {
        let _guard = self.inner.write.lock().await;
        let mut state = self.tenant(tenant).await?;
        let index = pending(&state, tenant, id)?;
        let request = state.requests[index].clone();
        let repository = parse_repository(&request.repository)?;
        let checked = self
            .check(
                &repository,
                &request.digest.to_string(),
                &state.policy.to_policy()?,
            )
            .await?;
        let mut request = request;
        request.status = RequestStatus::Approved;
        request.decided_by = Some(admin.to_owned());
        request.reason = Some(reason.to_owned());
        let mut detail = reason.to_owned();
        if let Some(egress) = egress {
            if egress != request.capabilities.egress {
                let origins: Vec<&str> = egress.iter().map(String::as_str).collect();
                detail = format!("{detail} (egress approved: {})", origins.join(", "))
                    .trim()
                    .to_owned();
            }
            request.capabilities.egress = egress;
        }
        state.audit.push(AuditEntry {
            at: now(),
            actor: admin.to_owned(),
            action: "approve".into(),
            repository: Some(request.repository.clone()),
            digest: Some(request.digest.clone()),
            detail,
        });
        self.install(&mut state, &request, &checked.spec, admin)
            .await?;
        state.requests[index] = request.clone();
        self.save_tenant(tenant, &state).await?;
        Ok(request)
    }

    /// Rejects a pending request, recording why.
    pub async fn reject(
        &self,
        tenant: &str,
        id: u64,
        admin: &str,
        reason: &str,
    ) -> Result<InstallRequest, MarketError> {
        if reason.trim().is_empty() {
            return Err(MarketError::BadRequest(
                "a rejection needs a reason; pass one (`--reason`)".into(),
            ));
        }
        let _guard = self.inner.write.lock().await;
        let mut state = self.tenant(tenant).await?;
        let index = pending(&state, tenant, id)?;
        let request = &mut state.requests[index];
        request.status = RequestStatus::Rejected;
        request.decided_by = Some(admin.to_owned());
        request.reason = Some(reason.to_owned());
        let request = request.clone();
        state.audit.push(AuditEntry {
            at: now(),
            actor: admin.to_owned(),
            action: "reject".into(),
            repository: Some(request.repository.clone()),
            digest: Some(request.digest.clone()),
            detail: reason.to_owned(),
        });
        self.save_tenant(tenant, &state).await?;
        Ok(request)
    }

    /// A tenant's install requests, oldest first.
    pub async fn requests(&self, tenant: &str) -> Result<Vec<InstallRequest>, MarketError> {
        Ok(self.tenant(tenant).await?.requests)
    }

    /// A tenant's installed plugins.
    pub async fn installed(&self, tenant: &str) -> Result<Vec<InstalledPlugin>, MarketError> {
        Ok(self.tenant(tenant).await?.installed)
    }

    /// The component of the plugin installed in `tenant` from `repository`
    /// at `version`, read from the registry at the digest its approval
    /// pinned and checked again (content and signature, under the tenant's
    /// policy now): what a workflow's `REPOSITORY@VERSION` node runs.
    ///
    /// While the plugin is installed, every version the tenant approved
    /// stays runnable, each with the capabilities approved for it, so an
    /// upgrade does not break the workflows that name an earlier version.
    /// Removing the plugin ends them all. `Ok(None)` when `version` is not
    /// among them.
    pub async fn installed_component(
        &self,
        tenant: &str,
        repository: &str,
        version: &str,
    ) -> Result<Option<(InstalledPlugin, Vec<u8>)>, MarketError> {
        let state = self.tenant(tenant).await?;
        let Some(current) = state.installed.iter().find(|i| i.repository == repository) else {
            return Ok(None);
        };
        let installed = if current.version == version {
            current.clone()
        } else {
            let Some(approved) = state.requests.iter().rev().find(|r| {
                r.repository == repository
                    && r.version == version
                    && r.status == RequestStatus::Approved
            }) else {
                return Ok(None);
            };
            InstalledPlugin {
                repository: approved.repository.clone(),
                name: current.name.clone(),
                version: approved.version.clone(),
                digest: approved.digest.clone(),
                capabilities: approved.capabilities.clone(),
                approved_by: approved.decided_by.clone().unwrap_or_default(),
            }
        };
        let name = parse_repository(&installed.repository)?;
        let checked = self
            .check(
                &name,
                &installed.digest.to_string(),
                &state.policy.to_policy()?,
            )
            .await?;
        Ok(Some((installed, checked.wasm)))
    }

    /// Removes an installed plugin.
    pub async fn remove(
        &self,
        tenant: &str,
        repository: &str,
        actor: &str,
    ) -> Result<InstalledPlugin, MarketError> {
        let _guard = self.inner.write.lock().await;
        let mut state = self.tenant(tenant).await?;
        let Some(index) = state
            .installed
            .iter()
            .position(|i| i.repository == repository || i.name == repository)
        else {
            return Err(MarketError::NotFound(format!(
                "`{repository}` is not installed in tenant `{tenant}`; `plugin list` shows what is"
            )));
        };
        let removed = state.installed.remove(index);
        state.audit.push(AuditEntry {
            at: now(),
            actor: actor.to_owned(),
            action: "remove".into(),
            repository: Some(removed.repository.clone()),
            digest: Some(removed.digest.clone()),
            detail: format!("version {}", removed.version),
        });
        self.save_tenant(tenant, &state).await?;
        Ok(removed)
    }

    /// A tenant's audit list, oldest first.
    pub async fn audit(&self, tenant: &str) -> Result<Vec<AuditEntry>, MarketError> {
        Ok(self.tenant(tenant).await?.audit)
    }
}

fn pending(state: &TenantState, tenant: &str, id: u64) -> Result<usize, MarketError> {
    let Some(index) = state.requests.iter().position(|r| r.id == id) else {
        return Err(MarketError::NotFound(format!(
            "tenant `{tenant}` has no install request {id}; `plugin list --requests` shows them"
        )));
    };
    let status = state.requests[index].status;
    if status != RequestStatus::Pending {
        return Err(MarketError::Conflict(format!(
            "install request {id} is already {}",
            match status {
                RequestStatus::Approved => "approved",
                RequestStatus::Rejected => "rejected",
                RequestStatus::Pending => "pending",
            }
        )));
    }
    Ok(index)
}

fn describe(verification: &Verification) -> String {
    match verification {
        Verification::SignedBy { name, key_id } => format!("signed by {name} ({key_id})"),
        Verification::UnsignedAllowed => "unsigned, allowed by the tenant's policy".into(),
    }
}

fn parse_repository(repository: &str) -> Result<RepositoryName, MarketError> {
    RepositoryName::new(repository)
        .map_err(|e| MarketError::BadRequest(format!("repository `{repository}`: {e}")))
}

/// Splits `REPOSITORY:TAG` or `REPOSITORY@DIGEST` (no registry host).
fn split_reference(reference: &str) -> Result<(RepositoryName, String), MarketError> {
    let (repository, rest) = if let Some((r, d)) = reference.split_once('@') {
        (r, d.to_owned())
    } else {
        match reference.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, t.to_owned()),
            _ => {
                return Err(MarketError::BadRequest(format!(
                    "`{reference}` names no version; write REPOSITORY:TAG (`plugins/slack:1.0.0`) or REPOSITORY@DIGEST"
                )));
            }
        }
    };
    Ok((parse_repository(repository)?, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_difference_names_only_what_is_new() {
        let old = Capabilities {
            egress: ["https://slack.com".to_owned()].into(),
            credential_types: ["slack-bot-token".to_owned()].into(),
        };
        let new = Capabilities {
            egress: [
                "https://slack.com".to_owned(),
                "https://files.slack.com".into(),
            ]
            .into(),
            credential_types: ["slack-bot-token".to_owned()].into(),
        };
        let added = new.beyond(&old);
        assert_eq!(
            added.egress,
            BTreeSet::from(["https://files.slack.com".to_owned()])
        );
        assert!(added.credential_types.is_empty());
        assert!(old.beyond(&new).is_empty());
        assert_eq!(
            effective_egress(
                &["https://files.slack.com".into(), "https://slack.com".into()],
                &old
            ),
            vec!["https://slack.com".to_owned()]
        );
    }

    #[test]
    fn references_and_versions_parse() {
        let (r, t) = split_reference("plugins/slack:1.2.0").unwrap();
        assert_eq!((r.as_str(), t.as_str()), ("plugins/slack", "1.2.0"));
        let err = split_reference("plugins/slack").unwrap_err().to_string();
        assert!(err.contains("REPOSITORY:TAG"), "{err}");
        assert!(version_key("1.10.0") > version_key("1.9.3"));
        assert!(check_tenant("Acme Corp").is_err());
    }
}
