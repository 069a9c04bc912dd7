//! Runs a built node in the real n8n-work runtime, from a native test.
//!
//! Enable the `harness` feature in your node's dev-dependencies:
//!
//! ```toml
//! [dev-dependencies]
//! n8n-work-sdk = { version = "0.1", features = ["harness"] }
//! ```
//!
//! ```no_run
//! use n8n_work_sdk::harness::TestNode;
//! use serde_json::json;
//!
//! // Builds this crate for wasm32-wasip2 and loads it, as n8n-work would.
//! let node = TestNode::build().unwrap();
//! let report = node
//!     .step(json!({"url": "https://api.example.com/items"}))
//!     .grant("https://api.example.com")
//!     .credential("auth", json!({"type": "http-bearer", "token": "t"}))
//!     .run();
//! let items = report.main_items().unwrap();
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use n8n_work_runtime::{
    EgressConfig, Item, LoadedNode, NodeSpec, Runtime, RuntimeConfig, StepError, StepOutcome,
    StepReport, StepRequest,
};
use serde_json::Value;

/// Why a node could not be built or loaded for a test.
#[derive(Debug)]
pub struct HarnessError(String);

impl std::fmt::Display for HarnessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HarnessError {}

/// A node component loaded into a real runtime.
pub struct TestNode {
    tokio: tokio::runtime::Runtime,
    runtime: Runtime,
    node: LoadedNode,
}

impl TestNode {
    /// Builds the crate under test (`CARGO_MANIFEST_DIR`) for
    /// `wasm32-wasip2` in release mode and loads the component.
    pub fn build() -> Result<Self, HarnessError> {
        let dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .ok_or_else(|| {
                HarnessError("CARGO_MANIFEST_DIR is not set: run this from `cargo test`".into())
            })?;
        let wasm = build_component(&dir)?;
        Self::from_file(&wasm)
    }

    /// Loads a component file.
    pub fn from_file(path: &Path) -> Result<Self, HarnessError> {
        let wasm = std::fs::read(path)
            .map_err(|e| HarnessError(format!("reading {}: {e}", path.display())))?;
        Self::from_bytes(&wasm, "")
    }

    /// Loads a component; `allow_private` is the operator allowlist
    /// (`"127.0.0.1"` lets a node reach a test server on loopback).
    pub fn from_bytes(wasm: &[u8], allow_private: &str) -> Result<Self, HarnessError> {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| HarnessError(e.to_string()))?;
        let config = RuntimeConfig {
            max_instances: 4,
            egress: EgressConfig {
                allow_private: allow_private
                    .parse()
                    .map_err(|e| HarnessError(format!("{e}")))?,
                ..EgressConfig::default()
            },
            ..RuntimeConfig::default()
        };
        let runtime = Runtime::new(config).map_err(|e| HarnessError(e.to_string()))?;
        let node = tokio
            .block_on(runtime.load(wasm))
            .map_err(|e| HarnessError(e.to_string()))?;
        Ok(TestNode {
            tokio,
            runtime,
            node,
        })
    }

    /// What the node says it is.
    pub fn spec(&self) -> &NodeSpec {
        self.node.spec()
    }

    /// Starts describing a step with these params.
    pub fn step(&self, params: Value) -> TestStep<'_> {
        TestStep {
            node: self,
            request: StepRequest::new("test", params),
        }
    }
}

/// One step to run, built up with items, credentials and grants.
pub struct TestStep<'a> {
    node: &'a TestNode,
    request: StepRequest,
}

impl TestStep<'_> {
    /// Input items: an object, or an array of objects.
    pub fn items(mut self, items: Value) -> Self {
        self.request.items = Item::list_from_value(items).expect("items are JSON objects");
        self
    }

    /// Grants a credential under slot `name`.
    pub fn credential(mut self, name: &str, value: Value) -> Self {
        self.request.credentials.insert(name.to_owned(), value);
        self
    }

    /// Grants egress to an origin, such as `https://api.example.com`.
    pub fn grant(mut self, origin: &str) -> Self {
        self.request
            .grants
            .push(origin.parse().unwrap_or_else(|e| panic!("{e}")));
        self
    }

    /// Runs the step in a fresh instance and returns the full report.
    pub fn run(self) -> TestReport {
        let report = self
            .node
            .tokio
            .block_on(self.node.runtime.run_step(&self.node.node, self.request));
        TestReport(report)
    }
}

/// A step's report, with helpers for assertions.
#[derive(Debug)]
pub struct TestReport(pub StepReport);

impl TestReport {
    /// The items on port `main`, or the step's error.
    pub fn main_items(&self) -> Result<Vec<Value>, StepError> {
        self.port("main")
    }

    /// The items on `port` as JSON objects, or the step's error.
    pub fn port(&self, port: &str) -> Result<Vec<Value>, StepError> {
        match &self.0.result {
            Ok(StepOutcome::Done { outputs }) => Ok(outputs
                .get(port)
                .map(|items| {
                    items
                        .iter()
                        .map(|i| Value::Object(i.json.clone()))
                        .collect()
                })
                .unwrap_or_default()),
            Ok(StepOutcome::Pending { .. }) => Ok(Vec::new()),
            Err(e) => Err(e.clone()),
        }
    }
}

/// `cargo build --release --target wasm32-wasip2` of the crate in `dir`,
/// into a target directory of its own; returns the `.wasm` it produced.
fn build_component(dir: &Path) -> Result<PathBuf, HarnessError> {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("target"))
        .join("n8n-work-node-test");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--message-format=json",
        ])
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .output()
        .map_err(|e| HarnessError(format!("running cargo: {e}")))?;
    if !output.status.success() {
        return Err(HarnessError(format!(
            "building the node for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`):\n{}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact")
        .flat_map(|msg| {
            msg["filenames"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|f| f.as_str().map(PathBuf::from))
        })
        .rfind(|f| f.extension().is_some_and(|e| e == "wasm"))
        .ok_or_else(|| HarnessError("cargo built no .wasm: is the crate a `cdylib`?".into()))
}
