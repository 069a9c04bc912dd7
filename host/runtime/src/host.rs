//! The per-step host state and the host side of the node's imports: `log`,
//! `credentials`, `state` and `binary`. WASI and `wasi:http` come from
//! wasmtime-wasi, linked to an empty context and to [`EgressHooks`].

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::n8n_work::node::{binary, credentials, log, state, types};
use crate::data::BinaryRef;
use crate::egress::EgressHooks;
use crate::limits::{LimitExceeded, StepLimiter};
use crate::log::{LogLevel, LogSource, StepLog};

/// Where binary data that steps read comes from. The engine backs it with
/// the store; [`MemoryBinaries`] serves the CLI and tests.
pub trait BinaryStore: Send + Sync {
    /// Up to `len` bytes of binary `id` from `offset`.
    fn read(&self, id: &str, offset: u64, len: u32) -> BoxFuture<'_, Result<Vec<u8>, String>>;
}

/// Where a node's persisted state comes from. It is read the first time
/// the node reads or writes its state, so a step whose node keeps no state
/// costs no read. The engine backs it with the store.
pub trait StateSource: Send + Sync {
    /// The node's state as committed (and as earlier calls of the same step
    /// left it).
    fn load(&self) -> BoxFuture<'_, Result<BTreeMap<String, Vec<u8>>, String>>;
}

/// Binary data held in memory.
#[derive(Debug, Default)]
pub struct MemoryBinaries {
    data: std::sync::RwLock<BTreeMap<String, Bytes>>,
}

impl MemoryBinaries {
    /// Keeps `data` under `id`.
    pub fn insert(&self, id: impl Into<String>, data: impl Into<Bytes>) {
        self.data
            .write()
            .expect("binaries lock")
            .insert(id.into(), data.into());
    }
}

impl BinaryStore for MemoryBinaries {
    fn read(&self, id: &str, offset: u64, len: u32) -> BoxFuture<'_, Result<Vec<u8>, String>> {
        let result = match self.data.read().expect("binaries lock").get(id) {
            Some(data) => Ok(slice(data, offset, len).to_vec()),
            None => Err(format!("binary `{id}` does not exist")),
        };
        Box::pin(async move { result })
    }
}

fn slice(data: &[u8], offset: u64, len: u32) -> &[u8] {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(data.len());
    let end = start.saturating_add(len as usize).min(data.len());
    &data[start..end]
}

/// Binary data a step wrote, for the engine to keep with the step's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBinary {
    /// How items refer to it.
    pub reference: BinaryRef,
    /// The bytes.
    pub data: Bytes,
}

/// A binary being written by the guest (`binary.writer`).
#[allow(unreachable_pub, reason = "the generated bindings re-export it")]
pub struct BinaryWriter {
    mime_type: String,
    file_name: Option<String>,
    data: Vec<u8>,
    finished: bool,
}

/// Limits on `state`, which is small by design: cursors, last-seen ids.
const STATE_KEY_MAX: usize = 256;
const STATE_VALUE_MAX: usize = 64 * 1024;
const STATE_TOTAL_MAX: usize = 1024 * 1024;

/// Everything a store holds for one step.
pub(crate) struct StepState {
    pub(crate) table: ResourceTable,
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) egress: EgressHooks,
    pub(crate) limiter: StepLimiter,
    pub(crate) log: StepLog,
    pub(crate) node: Arc<str>,
    pub(crate) credentials: BTreeMap<String, serde_json::Value>,
    pub(crate) state: BTreeMap<String, Vec<u8>>,
    /// Where `state` is read from on first use; `None` once read.
    pub(crate) state_source: Option<Arc<dyn StateSource>>,
    pub(crate) state_changes: BTreeMap<String, Option<Vec<u8>>>,
    pub(crate) binaries: Arc<dyn BinaryStore>,
    pub(crate) new_binaries: Vec<NewBinary>,
    pub(crate) binary_bytes: usize,
    pub(crate) binary_cap: usize,
    pub(crate) deadline: Instant,
    pub(crate) cancel: CancellationToken,
}

impl WasiView for StepState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for StepState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.egress,
        }
    }
}

impl types::Host for StepState {}

impl log::Host for StepState {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        tracing::debug!(node = %self.node, ?level, "{message}");
        self.log.push(level, LogSource::Node, message);
        Ok(())
    }
}

impl credentials::Host for StepState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, String>> {
        // A refusal is not logged here: nodes probe optional slots, and a
        // node that needs the credential fails with this message anyway.
        Ok(self.credentials.get(&name).map(|v| v.to_string()).ok_or_else(|| {
            format!(
                "credential `{name}` is not granted to node `{}`; add it to the node's credentials",
                self.node
            )
        }))
    }
}

impl StepState {
    /// Reads the node's state from its source, once.
    async fn load_state(&mut self) -> wasmtime::Result<()> {
        if let Some(source) = self.state_source.take() {
            self.state = source.load().await.map_err(|e| {
                wasmtime::Error::msg(format!(
                    "could not read the state of node `{}`: {e}",
                    self.node
                ))
            })?;
        }
        Ok(())
    }

    fn state_size_with(&self, key: &str, value: Option<usize>) -> usize {
        let mut current: BTreeMap<&str, usize> = self
            .state
            .iter()
            .map(|(k, v)| (k.as_str(), v.len()))
            .collect();
        for (k, v) in &self.state_changes {
            match v {
                Some(v) => current.insert(k, v.len()),
                None => current.remove(k.as_str()),
            };
        }
        match value {
            Some(len) => current.insert(key, len),
            None => current.remove(key),
        };
        current.iter().map(|(k, v)| k.len() + v).sum()
    }
}

impl state::Host for StepState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        self.load_state().await?;
        Ok(match self.state_changes.get(&key) {
            Some(change) => change.clone(),
            None => self.state.get(&key).cloned(),
        })
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
        if key.len() > STATE_KEY_MAX {
            return Ok(Err(format!(
                "state key is {} bytes; keys are at most {STATE_KEY_MAX}",
                key.len()
            )));
        }
        if value.len() > STATE_VALUE_MAX {
            return Ok(Err(format!(
                "state value for `{key}` is {} bytes; values are at most {STATE_VALUE_MAX} (keep large data in binary)",
                value.len()
            )));
        }
        self.load_state().await?;
        let total = self.state_size_with(&key, Some(value.len()));
        if total > STATE_TOTAL_MAX {
            return Ok(Err(format!(
                "node state would hold {total} bytes; a node keeps at most {STATE_TOTAL_MAX}"
            )));
        }
        self.state_changes.insert(key, Some(value));
        Ok(Ok(()))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<()> {
        self.state_changes.insert(key, None);
        Ok(())
    }
}

impl binary::Host for StepState {
    async fn read(
        &mut self,
        id: String,
        offset: u64,
        len: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, String>> {
        if let Some(new) = self.new_binaries.iter().find(|b| b.reference.id == id) {
            return Ok(Ok(slice(&new.data, offset, len).to_vec()));
        }
        Ok(self.binaries.read(&id, offset, len).await)
    }
}

impl binary::HostWriter for StepState {
    async fn new(
        &mut self,
        mime_type: String,
        file_name: Option<String>,
    ) -> wasmtime::Result<Resource<BinaryWriter>> {
        Ok(self.table.push(BinaryWriter {
            mime_type,
            file_name,
            data: Vec::new(),
            finished: false,
        })?)
    }

    async fn append(
        &mut self,
        writer: Resource<BinaryWriter>,
        chunk: Vec<u8>,
    ) -> wasmtime::Result<Result<(), String>> {
        if self.binary_bytes + chunk.len() > self.binary_cap {
            return Err(wasmtime::Error::new(LimitExceeded::Binary {
                limit_bytes: self.binary_cap,
            }));
        }
        self.binary_bytes += chunk.len();
        let writer = self.table.get_mut(&writer)?;
        if writer.finished {
            return Ok(Err(
                "this binary writer is finished; create a new one".to_owned()
            ));
        }
        writer.data.extend_from_slice(&chunk);
        Ok(Ok(()))
    }

    async fn finish(
        &mut self,
        writer: Resource<BinaryWriter>,
    ) -> wasmtime::Result<Result<types::BinaryRef, String>> {
        let writer = self.table.get_mut(&writer)?;
        if writer.finished {
            return Ok(Err("this binary writer is already finished".to_owned()));
        }
        writer.finished = true;
        let data = Bytes::from(std::mem::take(&mut writer.data));
        let reference = BinaryRef {
            id: format!("sha256-{}", hex::encode(Sha256::digest(&data))),
            mime_type: writer.mime_type.clone(),
            file_name: writer.file_name.clone(),
            size: data.len() as u64,
        };
        let wit_ref = (&reference).into();
        self.new_binaries.push(NewBinary { reference, data });
        Ok(Ok(wit_ref))
    }

    async fn drop(&mut self, writer: Resource<BinaryWriter>) -> wasmtime::Result<()> {
        self.table.delete(writer)?;
        Ok(())
    }
}
