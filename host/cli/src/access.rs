//! Tenants, keys, policies and the audit log from the command line:
//! `tenant create`, `key create|list|revoke`, `policy get|set` against a
//! server, and `audit verify`, which reads the database and the key and
//! checkpoint outside it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use n8n_work_store::Store;
use n8n_work_store::audit::{AuditKey, Checkpoint, verify};
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::Client;

/// `n8n-work tenant ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum TenantCommand {
    /// Make a tenant and print its owner key, once (the platform owner's
    /// key only: the first start's).
    Create {
        /// Its name; the id is made from it (`Acme Corp` → `acme-corp`).
        name: String,
    },
    /// Show a tenant's limits and what it uses; with a flag, set its own
    /// limits (the platform owner only). The flags given replace the
    /// tenant's limits; one left out takes the server's setting.
    Limits {
        /// The tenant's id [default: the key's own].
        tenant: Option<String>,
        /// API calls and webhook deliveries per second.
        #[arg(long)]
        requests_per_second: Option<u64>,
        /// Runs not yet ended (0 stops new runs).
        #[arg(long)]
        running_executions: Option<u64>,
        /// Steps made by the runs started in the last hour.
        #[arg(long)]
        steps_per_hour: Option<u64>,
        /// Remove the tenant's own limits: the server's settings apply.
        #[arg(long, conflicts_with_all = ["requests_per_second", "running_executions", "steps_per_hour"])]
        clear: bool,
    },
}

/// `n8n-work key ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Make a key in the caller's tenant and print it, once.
    Create {
        /// owner, admin, editor, operator or viewer (no higher than yours).
        #[arg(long)]
        role: String,
        /// A name to recognise it by.
        #[arg(long, default_value = "")]
        name: String,
        /// Limit it to these actions (`workflow.*`, `execution.read`);
        /// repeat for more [default: all its role allows].
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Stop it working after this many days.
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// List the tenant's keys (never the keys themselves).
    List,
    /// Revoke a key, and the browser sessions made from it.
    Revoke {
        /// The key's id (from `key list`).
        id: String,
    },
}

/// `n8n-work policy ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Print the default policies and the tenant's own.
    Get,
    /// Replace the tenant's own policies with a Cedar file (an empty file
    /// removes them).
    Set {
        /// The Cedar file.
        file: PathBuf,
    },
}

/// `n8n-work audit ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Check the whole chain against the HMAC key and the head checkpoint:
    /// finds an edited, deleted, reordered or truncated entry.
    Verify {
        /// The database: a PostgreSQL URL (default: the embedded store in
        /// the data directory).
        #[arg(long, env = "N8N_WORK_DATABASE_URL")]
        database_url: Option<String>,
    },
    /// Print the tenant's entries as JSON lines, from the server.
    Export,
}

/// `n8n-work vault ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum VaultCommand {
    /// Wrap every tenant's data key under a new master key, written over
    /// the key file, while the server goes on serving (the platform owner
    /// only). Back up the old key first if older backups must stay
    /// readable.
    Rotate,
}

pub(crate) async fn vault(command: VaultCommand, client: &Client) -> anyhow::Result<ExitCode> {
    let VaultCommand::Rotate = command;
    let status = client.call(Method::GET, "/vault", None).await?;
    let from = status["masterKeyId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let rotated = client
        .json(Method::POST, "/vault/rotate", json!({ "from": from }))
        .await?;
    println!(
        "Rotated the master key: {from} -> {}; {} data key(s) re-wrapped. The old key opens nothing now.",
        rotated["masterKeyId"].as_str().unwrap_or_default(),
        rotated["rewrapped"]
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn tenant(command: TenantCommand, client: &Client) -> anyhow::Result<ExitCode> {
    let name = match command {
        TenantCommand::Create { name } => name,
        TenantCommand::Limits {
            tenant,
            requests_per_second,
            running_executions,
            steps_per_hour,
            clear,
        } => {
            let setting = clear
                || requests_per_second.is_some()
                || running_executions.is_some()
                || steps_per_hour.is_some();
            let shown = if setting {
                let Some(tenant) = tenant else {
                    anyhow::bail!(
                        "name the tenant whose limits to set: `n8n-work tenant limits TENANT --requests-per-second N`"
                    );
                };
                let body = json!({
                    "tenant": tenant,
                    "requestsPerSecond": requests_per_second,
                    "runningExecutions": running_executions,
                    "stepsPerHour": steps_per_hour,
                });
                client.json(Method::PUT, "/limits", body).await?
            } else {
                let path = match &tenant {
                    Some(t) => format!("/limits?tenant={t}"),
                    None => "/limits".to_owned(),
                };
                client.call(Method::GET, &path, None).await?
            };
            print_limits(&shown);
            return Ok(ExitCode::SUCCESS);
        }
    };
    let made = client
        .json(Method::POST, "/tenants", json!({ "name": name }))
        .await?;
    println!(
        "created tenant {} ({}); its owner key (shown once):",
        made["id"].as_str().unwrap_or_default(),
        made["name"].as_str().unwrap_or_default()
    );
    println!("  {}", made["ownerKey"]["key"].as_str().unwrap_or_default());
    Ok(ExitCode::SUCCESS)
}

fn print_limits(shown: &Value) {
    println!("tenant {}", shown["tenant"].as_str().unwrap_or_default());
    for (field, label, used) in [
        ("requestsPerSecond", "requests per second", None),
        (
            "runningExecutions",
            "running executions",
            Some("runningExecutions"),
        ),
        ("stepsPerHour", "steps per hour", Some("stepsLastHour")),
    ] {
        let limit = match shown["limits"][field].as_u64() {
            Some(n) => n.to_string(),
            None => "no limit".to_owned(),
        };
        let source = if shown["overrides"][field].is_u64() {
            "this tenant's own"
        } else {
            "the server's setting"
        };
        let used = used
            .and_then(|u| shown["usage"][u].as_u64())
            .map_or(String::new(), |n| format!(", {n} used"));
        println!("  {label}: {limit} ({source}{used})");
    }
}

pub(crate) async fn key(command: KeyCommand, client: &Client) -> anyhow::Result<ExitCode> {
    match command {
        KeyCommand::Create {
            role,
            name,
            scopes,
            expires_in_days,
        } => {
            let mut body = json!({ "role": role, "name": name });
            if !scopes.is_empty() {
                body["scopes"] = json!(scopes);
            }
            if let Some(days) = expires_in_days {
                body["expiresInDays"] = json!(days);
            }
            let made = client.json(Method::POST, "/keys", body).await?;
            println!(
                "created a {} key {} in tenant {} (shown once):",
                made["role"].as_str().unwrap_or_default(),
                made["id"].as_str().unwrap_or_default(),
                made["tenant"].as_str().unwrap_or_default()
            );
            println!("  {}", made["key"].as_str().unwrap_or_default());
        }
        KeyCommand::List => {
            let list = client.call(Method::GET, "/keys", None).await?;
            println!(
                "{:<38} {:<14} {:<9} {:<20} {:<16} STATE",
                "ID", "PREFIX", "ROLE", "SCOPES", "NAME"
            );
            for key in list["items"].as_array().into_iter().flatten() {
                let state = if !key["revoked_at"].is_null() {
                    "revoked"
                } else if key["expires_at"]
                    .as_i64()
                    .is_some_and(|at| at < n8n_work_store::now_millis())
                {
                    "expired"
                } else {
                    "active"
                };
                let scopes: Vec<&str> = key["scopes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                println!(
                    "{:<38} {:<14} {:<9} {:<20} {:<16} {state}",
                    key["id"].as_str().unwrap_or_default(),
                    key["prefix"].as_str().unwrap_or_default(),
                    key["role"].as_str().unwrap_or_default(),
                    scopes.join(" "),
                    key["name"].as_str().unwrap_or_default(),
                );
            }
        }
        KeyCommand::Revoke { id } => {
            client
                .call(Method::DELETE, &format!("/keys/{id}"), None)
                .await?;
            println!("revoked key {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn policy(command: PolicyCommand, client: &Client) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Get => {
            let policies = client.call(Method::GET, "/policies", None).await?;
            println!("// The default policies (built in):\n");
            println!("{}", policies["defaults"].as_str().unwrap_or_default());
            match policies["tenant"].as_str() {
                Some(own) => println!("// The tenant's own policies:\n\n{own}"),
                None => println!("// The tenant has no policies of its own."),
            }
        }
        PolicyCommand::Set { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            client
                .json(Method::PUT, "/policies", json!({ "text": text }))
                .await
                .with_context(|| format!("setting the policies in {}", file.display()))?;
            println!("the tenant's policies are now those in {}", file.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn audit(
    command: AuditCommand,
    data_dir: &Path,
    client: impl FnOnce() -> anyhow::Result<Client>,
) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Export => {
            // JSON lines; one line alone reads as JSON.
            match client()?.call(Method::GET, "/audit", None).await? {
                Value::String(lines) => print!("{lines}"),
                Value::Null => {}
                line => println!("{line}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify { database_url } => verify_chain(database_url, data_dir).await,
    }
}

async fn verify_chain(database_url: Option<String>, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let store = match &database_url {
        Some(url) => Store::open(url).await?,
        None => {
            let path = data_dir.join("n8n-work.db");
            anyhow::ensure!(
                path.exists(),
                "no database at {}; pass --data-dir where `n8n-work serve` keeps its data, or --database-url",
                path.display()
            );
            Store::open_sqlite(&path).await?
        }
    };
    let (key, origin, created) = n8n_work_vault::audit_key()?;
    anyhow::ensure!(
        !created,
        "there was no audit key at {origin}, so one was made just now and cannot verify entries sealed before; set N8N_WORK_AUDIT_KEY or N8N_WORK_AUDIT_KEY_FILE to the server's key"
    );
    let key = AuditKey::new(*key);
    let head_file = crate::serve::audit_head_file(data_dir);
    let checkpoint: Option<Checkpoint> = match std::fs::read(&head_file) {
        Ok(bytes) => Some(
            serde_json::from_slice(&bytes)
                .with_context(|| format!("reading the checkpoint {}", head_file.display()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", head_file.display())),
    };
    let mut entries = Vec::new();
    loop {
        let after = entries
            .last()
            .map_or(0, |e: &n8n_work_store::audit::AuditEntry| e.seq);
        let page = store.audit_entries(None, after, 10_000).await?;
        if page.is_empty() {
            break;
        }
        entries.extend(page);
    }
    match verify(&key, entries, checkpoint.as_ref()) {
        Ok(count) => {
            match &checkpoint {
                Some(head) => println!(
                    "the audit log is intact: {count} entries, and entry {} matches the checkpoint in {}",
                    head.seq,
                    head_file.display()
                ),
                None => println!("the audit log is empty, and there is no checkpoint yet"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(broken) => {
            eprintln!(
                "the audit log is NOT intact: {broken} (checkpoint: {})",
                head_file.display()
            );
            Ok(ExitCode::from(1))
        }
    }
}
