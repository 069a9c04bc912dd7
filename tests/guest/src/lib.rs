//! A test node that the host's tests use to exercise the sandbox.
//!
//! It sits at the runtime stage of the data flow: the host runs it like any
//! other node, and each `mode` parameter pokes at one part of the contract
//! (limits, WASI capabilities, host imports, outcomes, failures). The
//! principal type is [`Params`], one variant per mode.

use std::hint::black_box;
use std::io::Read as _;
use std::time::Duration;

use n8n_work_sdk::http::Request;
use n8n_work_sdk::{
    BinaryRef, Context, CredentialSlot, Item, Node, NodeError, Outcome, Spec, binary, export_node,
    log, state,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// What the test node does, chosen by `mode`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(
    tag = "mode",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum Params {
    /// Returns the input items plus one item describing the step.
    Echo,
    /// Returns the input items unchanged.
    Noop,
    /// Never returns.
    Loop,
    /// Allocates and touches `mib` MiB, 1 MiB at a time.
    Alloc {
        /// How many MiB to allocate.
        mib: u64,
    },
    /// Sends a request with the SDK's client.
    Http {
        /// Where to send it.
        url: String,
        /// The method; `GET` when absent.
        method: Option<String>,
        /// The redirect limit; the SDK's default when absent.
        max_redirects: Option<u32>,
    },
    /// Reports what the WASI environment gives the node.
    Sandbox {
        /// The loopback port to try to connect to; 80 when absent.
        port: Option<u16>,
    },
    /// Reads credential `name`.
    Credential {
        /// The slot to read.
        name: String,
    },
    /// Increments the `counter` state, or deletes it.
    State {
        /// Delete the counter instead.
        #[serde(default)]
        delete: bool,
    },
    /// Writes `text` as a binary and reads it back.
    Binary {
        /// The text to write.
        text: String,
    },
    /// Returns pending once, then what it was resumed with.
    Pending {
        /// How long the host should wait before polling, in milliseconds.
        after_ms: Option<u64>,
    },
    /// Fails with the given error.
    Fail {
        /// The error message.
        message: Option<String>,
        /// Whether the error is retryable.
        #[serde(default)]
        retryable: bool,
        /// The error code.
        code: Option<String>,
        /// The wait before a retry, in milliseconds.
        retry_after_ms: Option<u64>,
    },
    /// Panics.
    Trap,
    /// Writes to stdout and stderr, and logs.
    Print,
    /// Returns one item with `bytes` bytes of text.
    BigOutput {
        /// How many bytes.
        bytes: usize,
    },
    /// Emits one item on port `true` and one on port `false`.
    Ports,
}

/// The test node.
pub struct TestGuest;

impl Node for TestGuest {
    type Params = Params;

    fn spec() -> Spec {
        Spec::new("test-guest", "Test Guest")
            .version(env!("CARGO_PKG_VERSION"))
            .description("Exercises the sandbox for the host's tests.")
            .credential(
                CredentialSlot::new("test", &["test"])
                    .description("Read back by mode `credential`"),
            )
            .egress("param:url", "Mode `http` calls this URL")
            .output("main", "Main")
            .output("true", "True")
            .output("false", "False")
    }

    fn execute(ctx: &Context<Params>, items: Vec<Item>) -> Result<Outcome, NodeError> {
        match &ctx.params {
            Params::Echo => {
                let mut items = items;
                items.push(Item::new(json!({
                    "params": ctx.raw_params,
                    "attempt": ctx.attempt,
                    "idempotencyKey": ctx.idempotency_key,
                    "nodeId": ctx.node_id,
                })));
                Ok(Outcome::main(items))
            }
            Params::Noop => Ok(Outcome::main(items)),
            Params::Loop => spin(),
            Params::Alloc { mib } => Ok(one(alloc(*mib))),
            Params::Http {
                url,
                method,
                max_redirects,
            } => http(url, method.as_deref(), *max_redirects),
            Params::Sandbox { port } => Ok(one(sandbox(port.unwrap_or(80)))),
            Params::Credential { name } => {
                let credential = ctx.credential(name)?;
                Ok(one(json!({ "credential": credential })))
            }
            Params::State { delete } => counter(*delete),
            Params::Binary { text } => round_trip(text),
            Params::Pending { after_ms } => Ok(match &ctx.resume {
                None => {
                    Outcome::pending(Duration::from_millis(after_ms.unwrap_or(10)), b"1".to_vec())
                }
                Some(state) => one(json!({
                    "resumedWith": String::from_utf8_lossy(state),
                })),
            }),
            Params::Fail {
                message,
                retryable,
                code,
                retry_after_ms,
            } => {
                let message = message.as_deref().unwrap_or("failed on purpose");
                let mut err = if *retryable {
                    NodeError::retryable(message)
                } else {
                    NodeError::fatal(message)
                };
                if let Some(code) = code {
                    err = err.with_code(code);
                }
                if let Some(wait) = retry_after_ms {
                    err = err.retry_after(Duration::from_millis(*wait));
                }
                Err(err)
            }
            Params::Trap => panic!("guest panicked on purpose"),
            Params::Print => {
                println!("to stdout");
                eprintln!("to stderr");
                log::info("info line from the test guest");
                log::warn!("warn line from the test guest ({})", "print");
                Ok(one(json!({})))
            }
            Params::BigOutput { bytes } => Ok(one(json!({ "data": "x".repeat(*bytes) }))),
            Params::Ports => Ok(Outcome::done()
                .port("true", vec![Item::new(json!({ "port": "true" }))])
                .port("false", vec![Item::new(json!({ "port": "false" }))])),
        }
    }
}

export_node!(TestGuest);

/// One item on `main`.
fn one(json: Value) -> Outcome {
    Outcome::main(vec![Item::new(json)])
}

/// Loops forever in a way the optimiser cannot remove.
fn spin() -> ! {
    let mut counter = 0_u64;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// Allocates `mib` MiB, writing to every page, and keeps it until the end.
fn alloc(mib: u64) -> Value {
    const MIB: usize = 1024 * 1024;
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    for _ in 0..mib {
        let mut block = vec![0_u8; MIB];
        for page in block.chunks_mut(4096) {
            page[0] = 1;
        }
        blocks.push(black_box(block));
    }
    let allocated = black_box(&blocks).len();
    json!({ "allocatedMib": allocated })
}

fn http(url: &str, method: Option<&str>, max_redirects: Option<u32>) -> Result<Outcome, NodeError> {
    let mut request = Request::new(method.unwrap_or("GET"), url);
    if let Some(max) = max_redirects {
        request = request.max_redirects(max);
    }
    let response = request.send()?;
    Ok(one(json!({
        "status": response.status,
        "body": response.text(),
    })))
}

/// What the WASI environment gives. Each probe is its value when it works,
/// or a string starting with `error: ` when it does not.
fn sandbox(port: u16) -> Value {
    fn probe(result: std::io::Result<Value>) -> Value {
        result.unwrap_or_else(|err| Value::String(format!("error: {err}")))
    }
    let env: Vec<Value> = std::env::vars()
        .map(|(name, value)| json!([name, value]))
        .collect();
    let args: Vec<String> = std::env::args().collect();
    let cwd = std::env::current_dir().map(|dir| json!(dir.display().to_string()));
    let read_root = std::fs::read_dir("/").and_then(|entries| {
        entries
            .map(|entry| entry.map(|entry| json!(entry.file_name().to_string_lossy())))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array)
    });
    let passwd = std::fs::read("/etc/passwd").map(|bytes| json!(String::from_utf8_lossy(&bytes)));
    let mut input = Vec::new();
    let stdin = std::io::stdin()
        .read_to_end(&mut input)
        .map(|_| json!(String::from_utf8_lossy(&input)));
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port))
        .map(|_| json!(format!("connected to 127.0.0.1:{port}")));
    let write = std::fs::write("/tmp/x", "x").map(|()| json!("written /tmp/x"));
    json!({
        "env": env,
        "args": args,
        "cwd": probe(cwd),
        "readRoot": probe(read_root),
        "readEtcPasswd": probe(passwd),
        "stdin": probe(stdin),
        "tcpConnect": probe(tcp),
        "writeFile": probe(write),
    })
}

fn counter(delete: bool) -> Result<Outcome, NodeError> {
    const KEY: &str = "counter";
    if delete {
        state::delete(KEY);
        return Ok(one(json!({ "deleted": true })));
    }
    let current = state::get(KEY)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let next = current + 1;
    state::set(KEY, next.to_string().as_bytes())?;
    Ok(one(json!({ "counter": next })))
}

fn round_trip(text: &str) -> Result<Outcome, NodeError> {
    let written: BinaryRef = binary::write(text.as_bytes(), "text/plain", Some("round-trip.txt"))?;
    let read = binary::read_all(&written)?;
    let item = Item::new(json!({
        "roundTrip": String::from_utf8_lossy(&read),
        "size": written.size,
    }))
    .with_binary("data", written);
    Ok(Outcome::main(vec![item]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(value: Value) -> Params {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn modes_parse_with_their_fields() {
        assert!(matches!(
            params(json!({"mode": "echo", "k": "v"})),
            Params::Echo
        ));
        assert!(matches!(
            params(json!({"mode": "pending", "afterMs": 25})),
            Params::Pending { after_ms: Some(25) }
        ));
        assert!(matches!(
            params(json!({"mode": "big-output", "bytes": 3})),
            Params::BigOutput { bytes: 3 }
        ));
        assert!(matches!(
            params(json!({"mode": "http", "url": "http://x", "maxRedirects": 0})),
            Params::Http {
                max_redirects: Some(0),
                ..
            }
        ));
        assert!(matches!(
            params(json!({"mode": "fail", "message": "m", "retryable": true, "code": "c"})),
            Params::Fail {
                retryable: true,
                ..
            }
        ));
    }
}
