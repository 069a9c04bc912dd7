//! Interop with real clients and servers from Debian's packages:
//! `skopeo` (apt package `skopeo`) copies a plugin artifact into our
//! registry and back, and our client pushes to and pulls from the reference
//! distribution server (apt package `docker-registry`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TestRegistry, component, spec};
use n8n_work_registry::Digest;
use n8n_work_registry::client::{ClientOptions, RegistryClient, UploadProgress, parse_reference};
use n8n_work_registry::media_types::OCI_MANIFEST;
use n8n_work_registry::plugin::PluginArtifact;
use n8n_work_registry::signature::{
    KeyAlgorithm, SigningKey, TrustPolicy, TrustedKey, Verification,
};
use serde_json::json;

/// The path of `binary`, or a panic that names the apt package to install.
fn require(binary: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(binary))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("`{binary}` is not installed; this test needs it: apt-get install -y {package}")
    })
}

fn write_blob(layout: &Path, bytes: &[u8]) {
    let digest = Digest::of(bytes);
    std::fs::write(layout.join("blobs/sha256").join(digest.hex()), bytes).unwrap();
}

fn read_blob(layout: &Path, digest: &Digest) -> Vec<u8> {
    std::fs::read(layout.join("blobs/sha256").join(digest.hex()))
        .unwrap_or_else(|e| panic!("blob {digest} missing from {}: {e}", layout.display()))
}

/// An OCI image layout holding `artifact` under `tag`.
fn write_layout(layout: &Path, artifact: &PluginArtifact, tag: &str) {
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    for blob in [
        &artifact.manifest[..],
        &artifact.config[..],
        &artifact.wasm[..],
    ] {
        write_blob(layout, blob);
    }
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": artifact.manifest_digest.to_string(),
            "size": artifact.manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
}

fn skopeo(args: &[&str]) {
    let output = Command::new(require("skopeo", "skopeo"))
        .args(["--insecure-policy"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn skopeo_copies_a_plugin_into_our_registry_and_back_byte_for_byte() {
    let reg = TestRegistry::start().await;
    let artifact = PluginArtifact::build(component(10), spec("1.0.0")).unwrap();
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("source");
    let back = work.path().join("back");
    write_layout(&source, &artifact, "1.0.0");
    let remote = format!("docker://{}/plugins/slack:1.0.0", reg.host());
    let source_ref = format!("oci:{}:1.0.0", source.display());
    let back_ref = format!("oci:{}:1.0.0", back.display());

    let (to, from) = (remote.clone(), remote.clone());
    tokio::task::spawn_blocking(move || {
        skopeo(&[
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &source_ref,
            &to,
        ]);
        skopeo(&[
            "copy",
            "--preserve-digests",
            "--src-tls-verify=false",
            &from,
            &back_ref,
        ]);
    })
    .await
    .unwrap();

    // Our registry holds the same manifest...
    let http = reqwest::Client::new();
    let stored = http
        .get(reg.url("/v2/plugins/slack/manifests/1.0.0"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&stored[..], &artifact.manifest[..]);
    // ...and what came back is identical, blob for blob.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(back.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"][0]["digest"],
        artifact.manifest_digest.to_string()
    );
    assert_eq!(
        read_blob(&back, &artifact.manifest_digest),
        &artifact.manifest[..]
    );
    assert_eq!(
        read_blob(&back, &Digest::of(&artifact.config)),
        &artifact.config[..]
    );
    assert_eq!(
        read_blob(&back, &Digest::of(&artifact.wasm)),
        &artifact.wasm[..]
    );
}

/// Debian's `docker-registry` on a free loopback port, stopped on drop.
struct DistributionServer {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for DistributionServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_distribution() -> DistributionServer {
    let binary = require("docker-registry", "docker-registry");
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let child = Command::new(binary)
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = DistributionServer {
        child,
        addr,
        _dir: dir,
    };
    // Wait until it answers, with a deadline; it exits early on a bad config.
    let deadline = Instant::now() + Duration::from_secs(20);
    let url = format!("http://{}/v2/", server.addr);
    loop {
        if let Ok(response) = reqwest::get(&url).await
            && response.status().is_success()
        {
            return server;
        }
        if let Some(status) = server.child.try_wait().unwrap() {
            panic!("docker-registry exited with {status} before serving");
        }
        assert!(
            Instant::now() < deadline,
            "docker-registry did not answer on {url} within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn our_client_publishes_to_and_pulls_from_debians_docker_registry() {
    let server = start_distribution().await;
    let key = SigningKey::generate(KeyAlgorithm::EcdsaP256);
    let artifact = PluginArtifact::build(component(11), spec("2.0.0")).unwrap();
    let reference = parse_reference(&format!("{}/plugins/slack:2.0.0", server.addr)).unwrap();
    let client = RegistryClient::new(ClientOptions {
        plain_http: true,
        chunk_size: 100 * 1024,
        ..ClientOptions::default()
    });
    let digest = client
        .publish(
            &reference,
            &artifact,
            Some(&key),
            Arc::new(|_: &UploadProgress| {}),
        )
        .await
        .unwrap();
    assert_eq!(digest, artifact.manifest_digest);

    let policy = TrustPolicy {
        trusted_keys: vec![TrustedKey {
            name: "publisher".into(),
            key: key.public_key(),
        }],
        allow_unsigned: false,
    };
    let pulled = client.pull(&reference, &policy).await.unwrap();
    assert_eq!(pulled.digest, digest);
    assert_eq!(pulled.wasm, artifact.wasm);
    assert_eq!(pulled.spec, spec("2.0.0"));
    assert!(matches!(pulled.verification, Verification::SignedBy { .. }));
}
