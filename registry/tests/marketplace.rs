//! The marketplace over real HTTP on loopback: the index, each refusal an
//! install can end in, and the lifecycle publish → approve → install (digest
//! pinned) → upgrade, with a new capability blocked until approved.

mod common;

use std::sync::Arc;

use common::component;
use n8n_work_registry::client::{ClientOptions, RegistryClient, UploadProgress, parse_reference};
use n8n_work_registry::marketplace::{FsMarketplaceStore, Marketplace};
use n8n_work_registry::plugin::{PluginArtifact, PluginSpec};
use n8n_work_registry::signature::{KeyAlgorithm, SigningKey};
use n8n_work_registry::storage::FsStorage;
use n8n_work_registry::{Digest, Registry, RegistryConfig};
use serde_json::{Value, json};

/// A registry with the marketplace merged in, on `127.0.0.1:<free port>`.
struct Market {
    addr: std::net::SocketAddr,
    storage: FsStorage,
    marketplace: Marketplace,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Market {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Market {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let storage = FsStorage::open(dir.path().join("registry")).await.unwrap();
        let store = FsMarketplaceStore::open(dir.path().join("marketplace"))
            .await
            .unwrap();
        let registry = Registry::new(Arc::new(storage.clone()), RegistryConfig::default());
        let marketplace = Marketplace::new(Arc::new(storage.clone()), Arc::new(store));
        let app = n8n_work_registry::router(registry)
            .merge(n8n_work_registry::marketplace_router(marketplace.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            addr,
            storage,
            marketplace,
            http: reqwest::Client::new(),
            _dir: dir,
            server,
        }
    }

    async fn publish(&self, artifact: &PluginArtifact, tag: &str, key: Option<&SigningKey>) {
        self.publish_to("plugins/slack", artifact, tag, key).await;
    }

    async fn publish_to(
        &self,
        repository: &str,
        artifact: &PluginArtifact,
        tag: &str,
        key: Option<&SigningKey>,
    ) {
        let client = RegistryClient::new(ClientOptions {
            plain_http: true,
            ..ClientOptions::default()
        });
        let reference = parse_reference(&format!("{}/{repository}:{tag}", self.addr)).unwrap();
        client
            .publish(&reference, artifact, key, Arc::new(|_: &UploadProgress| {}))
            .await
            .unwrap();
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        actor: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.call_in(None, method, path, actor, body).await
    }

    /// A call as the platform's guard passes it on: for a key of `tenant`.
    async fn call_in(
        &self,
        tenant: Option<&str>,
        method: &str,
        path: &str,
        actor: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("http://{}/v2/_marketplace{path}", self.addr);
        let mut request = self
            .http
            .request(method.parse().unwrap(), url)
            .header("x-n8n-work-actor", actor);
        if let Some(tenant) = tenant {
            request = request.header("x-n8n-work-tenant", tenant);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&body).unwrap());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, value)
    }

    async fn trust(&self, tenant: &str, keys: &[(&str, &SigningKey)]) {
        let keys: Vec<Value> = keys
            .iter()
            .map(|(name, k)| json!({"name": name, "publicKeyPem": k.public_key().to_pem()}))
            .collect();
        let (status, body) = self
            .call(
                "PUT",
                &format!("/tenants/{tenant}/policy"),
                "root",
                Some(json!({"trustedKeys": keys})),
            )
            .await;
        assert_eq!(status, 204, "{body}");
    }

    async fn request(&self, tenant: &str, reference: &str) -> (u16, Value) {
        self.call(
            "POST",
            &format!("/tenants/{tenant}/requests"),
            "dev@acme",
            Some(json!({"reference": reference})),
        )
        .await
    }

    async fn decide(&self, tenant: &str, id: &Value, decision: &str, reason: &str) -> (u16, Value) {
        self.call(
            "POST",
            &format!("/tenants/{tenant}/requests/{id}/{decision}"),
            "admin@acme",
            Some(json!({"reason": reason})),
        )
        .await
    }

    async fn installed(&self, tenant: &str) -> Vec<Value> {
        let (status, body) = self
            .call("GET", &format!("/tenants/{tenant}/installed"), "x", None)
            .await;
        assert_eq!(status, 200, "{body}");
        body["installed"].as_array().unwrap().clone()
    }
}

fn spec(version: &str, egress: &[&str]) -> PluginSpec {
    let egress: Vec<Value> = egress
        .iter()
        .map(|o| json!({"origin": o, "reason": "Slack API"}))
        .collect();
    serde_json::from_value(json!({
        "name": "slack",
        "version": version,
        "displayName": "Slack",
        "description": "Post messages to Slack channels",
        "categories": ["Communication"],
        "tags": ["chat", "messaging"],
        "credentials": [{"name": "slack", "types": ["slack-bot-token"], "required": true}],
        "egress": egress,
    }))
    .unwrap()
}

fn artifact(seed: u8, version: &str, egress: &[&str]) -> PluginArtifact {
    PluginArtifact::build(component(seed), spec(version, egress)).unwrap()
}

#[tokio::test]
async fn lifecycle_publish_approve_install_and_upgrade_with_a_new_capability() {
    let m = Market::start().await;
    let publisher = SigningKey::generate(KeyAlgorithm::Ed25519);
    let v1 = artifact(1, "1.0.0", &["https://slack.com"]);
    m.publish(&v1, "1.0.0", Some(&publisher)).await;
    m.trust("acme", &[("slack-inc", &publisher)]).await;

    // The index: found by words, category and keyword tag; verified for acme only.
    let (status, found) = m
        .call(
            "GET",
            "/search?q=messages%20slack&category=communication&tenant=acme",
            "x",
            None,
        )
        .await;
    assert_eq!(status, 200, "{found}");
    let entry = &found["plugins"][0];
    assert_eq!(entry["repository"], "plugins/slack");
    assert_eq!(
        entry["versions"][0]["digest"],
        v1.manifest_digest.to_string()
    );
    assert_eq!(entry["versions"][0]["verified"], true);
    assert_eq!(entry["versions"][0]["publisher"], "slack-inc");
    assert_eq!(
        entry["versions"][0]["publisherKey"],
        publisher.public_key().key_id()
    );
    let (_, anonymous) = m.call("GET", "/search?tag=chat", "x", None).await;
    assert_eq!(anonymous["plugins"][0]["versions"][0]["verified"], false);
    let (_, none) = m.call("GET", "/search?q=github", "x", None).await;
    assert_eq!(none["plugins"], json!([]));

    // First install waits for an admin; nothing is installed meanwhile.
    let (status, pending) = m.request("acme", "plugins/slack:1.0.0").await;
    assert_eq!(status, 202, "{pending}");
    assert_eq!(pending["status"], "pending");
    assert!(m.installed("acme").await.is_empty());
    let id = pending["request"]["id"].clone();
    let (status, approved) = m
        .decide("acme", &id, "approve", "reviewed the source")
        .await;
    assert_eq!(status, 200, "{approved}");
    let installed = m.installed("acme").await;
    assert_eq!(installed.len(), 1);
    assert_eq!(installed[0]["digest"], v1.manifest_digest.to_string());
    assert_eq!(installed[0]["approvedBy"], "admin@acme");
    // Deciding twice is a conflict.
    let (status, _) = m.decide("acme", &id, "reject", "changed my mind").await;
    assert_eq!(status, 409);

    // Re-tagging 1.0.0 to other content does not move the pinned install.
    let moved = artifact(9, "1.0.0", &["https://slack.com"]);
    m.publish(&moved, "1.0.0", Some(&publisher)).await;
    assert_eq!(
        m.installed("acme").await[0]["digest"],
        v1.manifest_digest.to_string()
    );

    // An upgrade within the approved capabilities installs at once.
    let v11 = artifact(2, "1.1.0", &["https://slack.com"]);
    m.publish(&v11, "1.1.0", Some(&publisher)).await;
    let (status, upgraded) = m.request("acme", "plugins/slack:1.1.0").await;
    assert_eq!(status, 200, "{upgraded}");
    assert_eq!(upgraded["status"], "installed");
    assert_eq!(
        m.installed("acme").await[0]["digest"],
        v11.manifest_digest.to_string()
    );

    // One that asks for a new origin waits, and shows only what it adds.
    let v2 = artifact(
        3,
        "2.0.0",
        &["https://slack.com", "https://files.slack.com"],
    );
    m.publish(&v2, "2.0.0", Some(&publisher)).await;
    let (status, blocked) = m.request("acme", "plugins/slack:2.0.0").await;
    assert_eq!(status, 202, "{blocked}");
    assert_eq!(blocked["request"]["upgradesFrom"], "1.1.0");
    assert_eq!(
        blocked["request"]["addedCapabilities"],
        json!({"egress": ["https://files.slack.com"], "credentialTypes": []})
    );
    assert_eq!(
        m.installed("acme").await[0]["digest"],
        v11.manifest_digest.to_string()
    );
    let (status, _) = m
        .decide(
            "acme",
            &blocked["request"]["id"],
            "approve",
            "file uploads are fine",
        )
        .await;
    assert_eq!(status, 200);
    let now = m.installed("acme").await;
    assert_eq!(now[0]["digest"], v2.manifest_digest.to_string());
    assert_eq!(now[0]["version"], "2.0.0");

    // Workflows naming an earlier approved version still get it, at the
    // digest approved then (1.0.0's tag has moved since), with the
    // capabilities approved for it; a version never approved gets nothing.
    let runnable = |version: &'static str| {
        let marketplace = m.marketplace.clone();
        async move {
            marketplace
                .installed_component("acme", "plugins/slack", version)
                .await
                .unwrap()
                .map(|(plugin, wasm)| (plugin.digest.to_string(), plugin.capabilities.egress, wasm))
        }
    };
    for (version, artifact) in [("1.0.0", &v1), ("1.1.0", &v11), ("2.0.0", &v2)] {
        let (digest, _, wasm) = runnable(version).await.expect(version);
        assert_eq!(digest, artifact.manifest_digest.to_string(), "{version}");
        assert_eq!(wasm, artifact.wasm.to_vec(), "{version}");
    }
    let (_, egress, _) = runnable("1.1.0").await.unwrap();
    assert!(!egress.contains("https://files.slack.com"), "{egress:?}");
    assert!(runnable("9.9.9").await.is_none());

    // Install counts, versions newest first.
    let (_, info) = m
        .call(
            "GET",
            "/plugin?repository=plugins/slack&tenant=acme",
            "x",
            None,
        )
        .await;
    assert_eq!(info["installs"], 3);
    assert_eq!(info["versions"][0]["version"], "2.0.0");
    assert_eq!(info["versions"].as_array().unwrap().len(), 3);

    // A rejection needs a reason, and the reason is in the audit list.
    m.call(
        "DELETE",
        "/tenants/acme/installed?repository=plugins/slack",
        "admin@acme",
        None,
    )
    .await;
    assert!(m.installed("acme").await.is_empty());
    assert!(
        runnable("1.1.0").await.is_none(),
        "removal ends every version"
    );
    let (_, again) = m.request("acme", "plugins/slack:1.1.0").await;
    let id = again["request"]["id"].clone();
    let (status, err) = m.decide("acme", &id, "reject", " ").await;
    assert_eq!(status, 400, "{err}");
    let (status, _) = m.decide("acme", &id, "reject", "we use 2.0.0").await;
    assert_eq!(status, 200);
    let (_, audit) = m.call("GET", "/tenants/acme/audit", "x", None).await;
    let actions: Vec<&str> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "policy", "request", "approve", "install", "upgrade", "request", "approve", "upgrade",
            "remove", "request", "reject"
        ]
    );
    let last = audit["audit"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["detail"], "we use 2.0.0");
    assert_eq!(last["actor"], "admin@acme");

    // Another tenant's state is its own.
    assert!(m.installed("globex").await.is_empty());
}

async fn refusal(m: &Market, reference: &str) -> (u16, String) {
    let (status, body) = m.request("acme", reference).await;
    (
        status,
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test]
async fn refusals_name_the_reason() {
    let m = Market::start().await;
    let publisher = SigningKey::generate(KeyAlgorithm::EcdsaP256);
    let stranger = SigningKey::generate(KeyAlgorithm::Ed25519);
    m.trust("acme", &[("slack-inc", &publisher)]).await;

    // Unsigned, under the default policy.
    let unsigned = artifact(1, "1.0.0", &["https://slack.com"]);
    m.publish(&unsigned, "1.0.0", None).await;
    let (status, message) = refusal(&m, "plugins/slack:1.0.0").await;
    assert_eq!(status, 403);
    assert!(message.contains("is not signed"), "{message}");

    // Signed by a key the tenant does not trust.
    let foreign = artifact(2, "1.0.1", &["https://slack.com"]);
    m.publish(&foreign, "1.0.1", Some(&stranger)).await;
    let (status, message) = refusal(&m, "plugins/slack:1.0.1").await;
    assert_eq!(status, 403);
    assert!(message.contains("by no trusted key"), "{message}");

    // A trusted signature copied over from another artifact.
    let signed = artifact(3, "1.0.2", &["https://slack.com"]);
    m.publish(&signed, "1.0.2", Some(&publisher)).await;
    let base = format!("http://{}/v2/plugins/slack/manifests/", m.addr);
    let sig = m
        .http
        .get(format!("{base}{}.sig", signed.manifest_digest.tag_form()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let put = m
        .http
        .put(format!("{base}{}.sig", unsigned.manifest_digest.tag_form()))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(sig)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 201);
    let (status, message) = refusal(&m, "plugins/slack:1.0.0").await;
    assert_eq!(status, 403);
    assert!(message.contains("belongs to another artifact"), "{message}");

    // The trusted one goes to pending; one byte changed in the stored
    // component before approval makes the approval fail and say why.
    let (status, pending) = m.request("acme", "plugins/slack:1.0.2").await;
    assert_eq!(status, 202, "{pending}");
    let layer = m.storage.blob_path(&Digest::of(&signed.wasm));
    let mut stored = std::fs::read(&layer).unwrap();
    stored[4242] ^= 0x01;
    std::fs::write(&layer, &stored).unwrap();
    let (status, err) = m
        .decide("acme", &pending["request"]["id"], "approve", "ok")
        .await;
    assert_eq!(status, 422, "{err}");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(message.contains("tampered"), "{message}");
    assert!(
        message.contains(&Digest::of(&signed.wasm).to_string()),
        "{message}"
    );
    assert!(m.installed("acme").await.is_empty());
    let (status, message) = refusal(&m, "plugins/slack:1.0.2").await;
    assert_eq!(status, 422, "{message}");

    // Bad input names the fix.
    let (status, message) = refusal(&m, "plugins/slack").await;
    assert_eq!(status, 400);
    assert!(message.contains("REPOSITORY:TAG"), "{message}");
    let (status, _) = refusal(&m, "plugins/slack:9.9.9").await;
    assert_eq!(status, 404);
    let (status, body) = m
        .call("GET", "/tenants/Not%20A%20Tenant/installed", "x", None)
        .await;
    assert_eq!(status, 400, "{body}");
}

#[derive(clap::Parser)]
struct Cli {
    #[command(subcommand)]
    command: n8n_work_registry::cli::PluginCommand,
}

async fn cli(m: &Market, args: &[&str]) -> anyhow::Result<()> {
    use clap::Parser as _;
    let registry = format!("http://{}", m.addr);
    let argv = std::iter::once("plugin")
        .chain(args.iter().copied())
        .chain(["--registry", &registry, "--tenant", "acme"]);
    let dir = tempfile::tempdir().unwrap();
    Cli::try_parse_from(argv)?.command.run(dir.path()).await?;
    Ok(())
}

#[tokio::test]
async fn the_plugin_commands_drive_the_lifecycle() {
    let m = Market::start().await;
    let publisher = SigningKey::generate(KeyAlgorithm::Ed25519);
    m.publish(
        &artifact(1, "1.0.0", &["https://slack.com"]),
        "1.0.0",
        Some(&publisher),
    )
    .await;
    m.trust("acme", &[("slack-inc", &publisher)]).await;

    cli(&m, &["search", "slack", "--category", "communication"])
        .await
        .unwrap();
    cli(&m, &["info", "plugins/slack"]).await.unwrap();
    cli(&m, &["install", "plugins/slack:1.0.0", "--as", "dev"])
        .await
        .unwrap();
    assert!(m.installed("acme").await.is_empty());
    cli(&m, &["approve", "1", "--reason", "ok", "--as", "admin"])
        .await
        .unwrap();
    let installed = m.installed("acme").await;
    assert_eq!(installed[0]["version"], "1.0.0");
    assert_eq!(installed[0]["approvedBy"], "admin");

    // `upgrade` without a tag takes the newest version; its new credential waits.
    let v2 = artifact(2, "2.0.0", &["https://slack.com"]);
    let mut spec2 = v2.spec.clone();
    spec2.credentials[0].types.push("slack-user-token".into());
    let v2 = PluginArtifact::build(v2.wasm, spec2).unwrap();
    m.publish(&v2, "2.0.0", Some(&publisher)).await;
    cli(&m, &["upgrade", "plugins/slack"]).await.unwrap();
    assert_eq!(m.installed("acme").await[0]["version"], "1.0.0");
    let err = cli(&m, &["reject", "2", "--reason", ""]).await.unwrap_err();
    assert!(err.to_string().contains("needs a reason"), "{err}");
    cli(
        &m,
        &["reject", "2", "--reason", "user tokens are not allowed"],
    )
    .await
    .unwrap();
    cli(&m, &["list", "--requests"]).await.unwrap();
    assert_eq!(m.installed("acme").await[0]["version"], "1.0.0");

    cli(&m, &["remove", "plugins/slack"]).await.unwrap();
    assert!(m.installed("acme").await.is_empty());
    let err = cli(&m, &["remove", "plugins/slack"]).await.unwrap_err();
    assert!(err.to_string().contains("is not installed"), "{err}");

    // A refusal reaches the command line with the server's reason.
    m.publish(&artifact(3, "3.0.0", &[]), "3.0.0", None).await;
    let err = cli(&m, &["install", "plugins/slack:3.0.0"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is not signed"), "{err}");
}

impl Market {
    /// Copies the manifest `from:reference` and the blobs it names into
    /// `to` over the registry's API, as anyone who may push can (a
    /// cross-repository mount per blob, then the manifest's bytes as they are).
    async fn copy(&self, from: &str, to: &str, reference: &str) {
        let base = format!("http://{}/v2", self.addr);
        let manifest = self
            .http
            .get(format!("{base}/{from}/manifests/{reference}"))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let parsed: Value = serde_json::from_slice(&manifest).unwrap();
        let layers = parsed["layers"].as_array().unwrap();
        for blob in std::iter::once(&parsed["config"]).chain(layers) {
            let digest = blob["digest"].as_str().unwrap();
            let mounted = self
                .http
                .post(format!(
                    "{base}/{to}/blobs/uploads/?mount={digest}&from={from}"
                ))
                .send()
                .await
                .unwrap();
            assert_eq!(mounted.status().as_u16(), 201, "mount {digest}");
        }
        let put = self
            .http
            .put(format!("{base}/{to}/manifests/{reference}"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest)
            .send()
            .await
            .unwrap();
        assert_eq!(put.status().as_u16(), 201, "{to}:{reference}");
    }
}

/// The versions of `repository` in a search answer.
fn versions_of<'a>(found: &'a Value, repository: &str) -> &'a Value {
    let plugins = found["plugins"].as_array().unwrap();
    &plugins
        .iter()
        .find(|p| p["repository"] == repository)
        .unwrap_or_else(|| panic!("{repository} is not in {found}"))["versions"]
}

#[tokio::test]
async fn a_trusted_signature_copied_into_another_repository_is_not_verified_there() {
    let m = Market::start().await;
    let publisher = SigningKey::generate(KeyAlgorithm::Ed25519);
    let signed = artifact(1, "1.0.0", &["https://slack.com"]);
    m.publish(&signed, "1.0.0", Some(&publisher)).await;
    m.trust("acme", &[("slack-inc", &publisher)]).await;
    let (status, claimed) = m
        .call_in(
            Some("slack"),
            "POST",
            "/publishers",
            "x",
            Some(json!({"name": "slack-inc", "publicKeyPem": publisher.public_key().to_pem()})),
        )
        .await;
    assert_eq!(status, 200, "{claimed}");

    // Someone re-hosts the signed manifest and its signature under their
    // own name: the bytes, the digest and the signature are all the same.
    m.copy("plugins/slack", "mallory/slack", "1.0.0").await;
    let sig_tag = format!("{}.sig", signed.manifest_digest.tag_form());
    m.copy("plugins/slack", "mallory/slack", &sig_tag).await;

    let (status, found) = m
        .call("GET", "/search?q=slack&tenant=acme", "x", None)
        .await;
    assert_eq!(status, 200, "{found}");
    let original = &versions_of(&found, "plugins/slack")[0];
    assert_eq!(original["verified"], true, "{original}");
    assert_eq!(original["publisher"], "slack-inc", "{original}");
    let copy = &versions_of(&found, "mallory/slack")[0];
    assert_eq!(copy["digest"], signed.manifest_digest.to_string());
    assert_eq!(copy["verified"], false, "{copy}");
    assert!(copy["publisher"].is_null(), "{copy}");

    let (status, message) = refusal(&m, "mallory/slack:1.0.0").await;
    assert_eq!(status, 403, "{message}");
    assert!(
        message.contains("signed for `127.0.0.1")
            && message.contains("/plugins/slack`")
            && message.contains("not for repository `mallory/slack`"),
        "{message}"
    );
    let (status, pending) = m.request("acme", "plugins/slack:1.0.0").await;
    assert_eq!(status, 202, "the original still installs: {pending}");
}

#[tokio::test]
async fn a_publisher_name_belongs_to_the_tenant_that_claimed_it_first() {
    let m = Market::start().await;
    let slack = SigningKey::generate(KeyAlgorithm::Ed25519);
    let mallory = SigningKey::generate(KeyAlgorithm::EcdsaP256);
    let claim = |tenant: &'static str, name: &'static str, key: &SigningKey| {
        let body = json!({"name": name, "publicKeyPem": key.public_key().to_pem()});
        let m = &m;
        async move {
            m.call_in(Some(tenant), "POST", "/publishers", "x", Some(body))
                .await
        }
    };
    let (status, claimed) = claim("slack", "Slack", &slack).await;
    assert_eq!(status, 200, "{claimed}");
    assert_eq!(claimed["keyId"], slack.public_key().key_id());

    // Another tenant's claim of the name is refused, and says what to do.
    let (status, refused) = claim("mallory", "Slack", &mallory).await;
    assert_eq!(status, 409, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`Slack` is claimed by another tenant")
            && message.contains("another name"),
        "{message}"
    );
    // So is naming the key another tenant claimed after yourself.
    let (status, refused) = claim("mallory", "Slack Technologies", &slack).await;
    assert_eq!(status, 409, "{refused}");

    // Mallory's plugin does not show as Slack's; Slack's does.
    m.publish_to(
        "mallory/slack",
        &artifact(2, "1.0.0", &["https://slack.com"]),
        "1.0.0",
        Some(&mallory),
    )
    .await;
    m.publish(
        &artifact(1, "1.0.0", &["https://slack.com"]),
        "1.0.0",
        Some(&slack),
    )
    .await;
    let (_, found) = m
        .call_in(Some("acme"), "GET", "/search?q=slack", "x", None)
        .await;
    assert!(
        versions_of(&found, "mallory/slack")[0]["publisher"].is_null(),
        "{found}"
    );
    assert_eq!(
        versions_of(&found, "plugins/slack")[0]["publisher"],
        "Slack"
    );

    // The owner may change its key; a claim names the tenant making it.
    let rotated = SigningKey::generate(KeyAlgorithm::Ed25519);
    let (status, claimed) = claim("slack", "Slack", &rotated).await;
    assert_eq!(status, 200, "{claimed}");
    let body = json!({"name": "Nobody", "publicKeyPem": mallory.public_key().to_pem()});
    let (status, refused) = m.call("POST", "/publishers", "x", Some(body)).await;
    assert_eq!(status, 400, "{refused}");
}

#[tokio::test]
async fn the_verified_badge_is_computed_for_the_callers_own_tenant_only() {
    let m = Market::start().await;
    let vendor = SigningKey::generate(KeyAlgorithm::Ed25519);
    m.publish(&artifact(1, "1.0.0", &[]), "1.0.0", Some(&vendor))
        .await;
    m.trust("acme", &[("acme-private-vendor", &vendor)]).await;

    // A key of globex asks with acme's name: refused, nothing of acme's shown.
    for path in [
        "/search?tenant=acme",
        "/plugin?repository=plugins/slack&tenant=acme",
    ] {
        let (status, refused) = m.call_in(Some("globex"), "GET", path, "x", None).await;
        assert_eq!(status, 403, "{path}: {refused}");
        let text = refused.to_string();
        assert!(!text.contains("acme-private-vendor"), "{text}");
        assert!(text.contains("own tenant `globex`"), "{text}");
    }
    // Its own view: not verified, no name from acme's policy.
    let (status, found) = m.call_in(Some("globex"), "GET", "/search", "x", None).await;
    assert_eq!(status, 200, "{found}");
    let version = &versions_of(&found, "plugins/slack")[0];
    assert_eq!(version["verified"], false, "{version}");
    assert!(version["publisher"].is_null(), "{version}");
    // acme's keys see acme's badge, with or without naming the tenant.
    for path in ["/search?tenant=acme", "/search"] {
        let (status, found) = m.call_in(Some("acme"), "GET", path, "x", None).await;
        assert_eq!(status, 200, "{found}");
        let version = &versions_of(&found, "plugins/slack")[0];
        assert_eq!(version["verified"], true, "{path}: {version}");
        assert_eq!(version["publisher"], "acme-private-vendor");
    }
    let (status, info) = m
        .call_in(
            Some("acme"),
            "GET",
            "/plugin?repository=plugins/slack",
            "x",
            None,
        )
        .await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["versions"][0]["verified"], true, "{info}");
}
