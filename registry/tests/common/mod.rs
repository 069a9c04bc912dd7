//! Shared test helpers: a registry served on a loopback port.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use n8n_work_registry::plugin::PluginSpec;
use n8n_work_registry::server::AuthSettings;
use n8n_work_registry::storage::FsStorage;
use n8n_work_registry::{Registry, RegistryConfig};

/// A registry on `127.0.0.1:<free port>` over a temporary directory.
pub struct TestRegistry {
    pub addr: SocketAddr,
    pub storage: FsStorage,
    pub dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl TestRegistry {
    pub async fn start() -> Self {
        Self::serve(|_| None).await
    }

    /// A registry with token auth; `auth` gets the registry's base URL
    /// (`http://127.0.0.1:PORT`), for the realm.
    pub async fn start_with(auth: impl FnOnce(&str) -> AuthSettings) -> Self {
        Self::serve(|base| Some(auth(base))).await
    }

    async fn serve(auth: impl FnOnce(&str) -> Option<AuthSettings>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let storage = FsStorage::open(dir.path().join("registry")).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let registry = Registry::new(
            Arc::new(storage.clone()),
            RegistryConfig {
                auth: auth(&format!("http://{addr}")),
                ..RegistryConfig::default()
            },
        );
        let app = n8n_work_registry::router(registry);
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            addr,
            storage,
            dir,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `127.0.0.1:PORT`, as an image reference's registry part.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The Slack node's spec, as `describe()` returns it.
pub fn spec(version: &str) -> PluginSpec {
    serde_json::from_value(serde_json::json!({
        "name": "slack",
        "version": version,
        "displayName": "Slack",
        "description": "Post messages to Slack",
        "icon": "slack",
        "paramsSchema": {"type": "object"},
        "credentials": [{"name": "slack", "types": ["slack-bot-token"], "required": true, "description": "bot token"}],
        "egress": [{"origin": "https://slack.com", "reason": "Slack Web API"}],
        "outputs": [{"name": "main", "displayName": "Main"}]
    }))
    .unwrap()
}

/// A fake component: the wasm magic and enough bytes for several chunks.
pub fn component(seed: u8) -> Bytes {
    let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
    bytes.extend((0..300_000u32).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    Bytes::from(bytes)
}
