//! The CLI against a running server: `workflow push|list|activate|
//! deactivate` and `execution list|get|tail|cancel|retry`.
//!
//! The server and key come from `--server`/`--api-key`, then
//! `N8N_WORK_SERVER`/`N8N_WORK_API_KEY`, then the local server's
//! `<data dir>/cli.key`, which the first `serve` wrote.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

/// Where the server is and how to sign in.
#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// The server's URL.
    #[arg(
        long,
        env = "N8N_WORK_SERVER",
        default_value = "http://127.0.0.1:5678",
        global = true
    )]
    server: String,
    /// An API key (default: `<data dir>/cli.key`, written by the first
    /// `serve`).
    #[arg(long, env = "N8N_WORK_API_KEY", hide_env_values = true, global = true)]
    api_key: Option<String>,
}

/// A signed-in connection to the server.
pub(crate) struct Client {
    http: reqwest::Client,
    api: String,
    key: String,
}

impl ServerArgs {
    /// The API key: `--api-key`, else `<data dir>/cli.key` if readable.
    pub(crate) fn key(&self, data_dir: &Path) -> Option<String> {
        self.api_key
            .clone()
            .or_else(|| std::fs::read_to_string(data_dir.join("cli.key")).ok())
            .map(|key| key.trim().to_owned())
    }
}

impl Client {
    pub(crate) fn new(args: &ServerArgs, data_dir: &Path) -> anyhow::Result<Client> {
        let key = match &args.api_key {
            Some(key) => key.trim().to_owned(),
            None => {
                let path = data_dir.join("cli.key");
                std::fs::read_to_string(&path)
                    .with_context(|| {
                        format!(
                            "no API key: pass --api-key or N8N_WORK_API_KEY, or run where `n8n-work serve` keeps its data ({} not readable)",
                            path.display()
                        )
                    })?
                    .trim()
                    .to_owned()
            }
        };
        Ok(Client {
            http: reqwest::Client::new(),
            api: format!("{}/api/v1", args.server.trim_end_matches('/')),
            key,
        })
    }

    /// Sends a request; a non-2xx answer becomes an error with the
    /// server's message.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, String)>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.api);
        let mut request = self.http.request(method, &url).bearer_auth(&self.key);
        if let Some((content_type, body)) = body {
            request = request.header("content-type", content_type).body(body);
        }
        let response = request.send().await.with_context(|| {
            format!("reaching {url}; is `n8n-work serve` running there? (--server sets where)")
        })?;
        let status = response.status();
        let text = response.text().await?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if !status.is_success() {
            let message = value["error"]["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| value.to_string());
            let mut problems = String::new();
            if let Some(details) = value["error"]["details"].as_array() {
                for d in details {
                    problems.push_str(&format!(
                        "\n  {}{}: {}",
                        d["path"].as_str().unwrap_or_default(),
                        d["line"]
                            .as_u64()
                            .map(|l| format!(" (line {l})"))
                            .unwrap_or_default(),
                        d["message"].as_str().unwrap_or_default()
                    ));
                }
            }
            bail!("{status}: {message}{problems}");
        }
        Ok(value)
    }

    pub(crate) async fn json(
        &self,
        method: Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        self.call(method, path, Some(("application/json", body.to_string())))
            .await
    }

    /// Stores a workflow (YAML or JSON), activating the version stored when
    /// asked; prints what happened.
    pub(crate) async fn push(
        &self,
        content_type: &str,
        text: String,
        activate: bool,
    ) -> anyhow::Result<()> {
        let pushed = self
            .call(Method::POST, "/workflows", Some((content_type, text)))
            .await?;
        let id = pushed["id"].as_str().unwrap_or_default();
        println!(
            "pushed {} as workflow {id}, version {}",
            pushed["name"].as_str().unwrap_or_default(),
            pushed["version"]
        );
        if activate {
            let active = self
                .json(
                    Method::POST,
                    &format!("/workflows/{id}/activate"),
                    json!({ "version": pushed["version"] }),
                )
                .await?;
            println!("activated version {}", active["activeVersion"]);
        }
        Ok(())
    }

    /// The workflow a user named: by its name, else by its id.
    async fn workflow(&self, name_or_id: &str) -> anyhow::Result<NamedWorkflow> {
        let list = self.call(Method::GET, "/workflows", None).await?;
        let items = list["items"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        items
            .iter()
            .find(|w| w["name"] == name_or_id)
            .or_else(|| items.iter().find(|w| w["id"] == name_or_id))
            .map(|w| NamedWorkflow {
                id: w["id"].as_str().unwrap_or_default().to_owned(),
                name: w["name"].as_str().unwrap_or_default().to_owned(),
            })
            .with_context(|| {
                format!("no workflow is named `{name_or_id}` (nor has that id); `n8n-work workflow list` shows their names")
            })
    }
}

/// A workflow as a user names it, and the id the API takes.
struct NamedWorkflow {
    id: String,
    name: String,
}

/// How a list prints: a table of names, with ids (`--wide`), or the API's
/// JSON (`--json`).
#[derive(Debug, Args)]
pub(crate) struct ListFormat {
    /// Add the ids (and versions) to the table.
    #[arg(long, conflicts_with = "json")]
    wide: bool,
    /// Print the API's JSON: every field, ids included.
    #[arg(long)]
    json: bool,
}

/// `n8n-work workflow` subcommands that talk to a server.
#[derive(Debug, Subcommand)]
pub(crate) enum RemoteWorkflow {
    /// Store a workflow file on the server: a new workflow, or a new
    /// version of the one with its name.
    Push {
        /// The workflow: a YAML or JSON file.
        file: PathBuf,
        /// Make the pushed version the active one.
        #[arg(long)]
        activate: bool,
    },
    /// List the server's workflows: name, versions, runs and the last one.
    List {
        #[command(flatten)]
        format: ListFormat,
    },
    /// Make a version (the latest by default) the one triggers run.
    Activate {
        /// The workflow's name (or id).
        workflow: String,
        /// The version to activate.
        #[arg(long)]
        version: Option<i64>,
    },
    /// Stop a workflow's triggers.
    Deactivate {
        /// The workflow's name (or id).
        workflow: String,
    },
}

pub(crate) async fn workflow(command: RemoteWorkflow, client: &Client) -> anyhow::Result<ExitCode> {
    match command {
        RemoteWorkflow::Push { file, activate } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let content_type = if file.extension().is_some_and(|e| e == "json") {
                "application/json"
            } else {
                "application/yaml"
            };
            client
                .push(content_type, text, activate)
                .await
                .with_context(|| format!("pushing {}", file.display()))?;
        }
        RemoteWorkflow::List { format } => {
            let list = client.call(Method::GET, "/workflows", None).await?;
            if format.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(ExitCode::SUCCESS);
            }
            let mut header = vec!["NAME", "VERSION", "ACTIVE", "RUNS", "FAILED", "LAST RUN"];
            if format.wide {
                header.insert(0, "ID");
            }
            let rows: Vec<Vec<String>> = items(&list)
                .map(|w| {
                    let last = match &w["lastRun"] {
                        Value::Null => "-".to_owned(),
                        run => format!(
                            "{} {}",
                            run["status"].as_str().unwrap_or_default(),
                            time(run["startedAt"].as_i64())
                        ),
                    };
                    let mut row = vec![
                        text(&w["name"]),
                        w["version"].to_string(),
                        w["activeVersion"]
                            .as_i64()
                            .map_or("-".to_owned(), |v| v.to_string()),
                        w["runs"]["total"].to_string(),
                        w["runs"]["failed"].to_string(),
                        last,
                    ];
                    if format.wide {
                        row.insert(0, text(&w["id"]));
                    }
                    row
                })
                .collect();
            crate::table::print(&header, &rows);
        }
        RemoteWorkflow::Activate { workflow, version } => {
            let workflow = client.workflow(&workflow).await?;
            let active = client
                .json(
                    Method::POST,
                    &format!("/workflows/{}/activate", workflow.id),
                    json!({ "version": version }),
                )
                .await?;
            println!(
                "workflow {}: version {} is active",
                workflow.name, active["activeVersion"]
            );
        }
        RemoteWorkflow::Deactivate { workflow } => {
            let workflow = client.workflow(&workflow).await?;
            client
                .json(
                    Method::POST,
                    &format!("/workflows/{}/deactivate", workflow.id),
                    json!({}),
                )
                .await?;
            println!("workflow {}: no version is active", workflow.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `n8n-work execution ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum ExecutionCommand {
    /// List runs, newest first, with their workflow's name.
    List {
        /// Runs of this workflow: its name (or id).
        #[arg(long, value_name = "NAME")]
        workflow: Option<String>,
        /// Runs in this status.
        #[arg(long, value_parser = ["running", "compensating", "succeeded", "failed", "cancelled"])]
        status: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        format: ListFormat,
    },
    /// Show a run and its steps.
    Get {
        /// The run's id.
        id: String,
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Follow a run live until it ends.
    Tail {
        /// The run's id.
        id: String,
    },
    /// Cancel a run.
    Cancel {
        /// The run's id.
        id: String,
    },
    /// Run a failed run again, from its failed step (or from the start).
    Retry {
        /// The run's id.
        id: String,
        /// Start a new run from the trigger instead.
        #[arg(long)]
        from_start: bool,
    },
}

/// The `items` of a list the API answered.
fn items(list: &Value) -> impl Iterator<Item = &Value> {
    list["items"].as_array().into_iter().flatten()
}

/// A string field's text; empty when it is missing.
fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

fn time(ms: Option<i64>) -> String {
    ms.and_then(chrono_like).unwrap_or_else(|| "-".to_owned())
}

/// `2026-11-28 10:30:08` (UTC) from milliseconds.
fn chrono_like(ms: i64) -> Option<String> {
    let system =
        std::time::UNIX_EPOCH.checked_add(Duration::from_millis(u64::try_from(ms).ok()?))?;
    let text = humantime::format_rfc3339_seconds(system).to_string();
    Some(text.replace('T', " ").trim_end_matches('Z').to_owned())
}

fn duration(from: Option<i64>, to: Option<i64>) -> String {
    match (from, to) {
        (Some(from), Some(to)) => format!("{} ms", to - from),
        _ => "-".to_owned(),
    }
}

pub(crate) async fn execution(
    command: ExecutionCommand,
    client: &Client,
) -> anyhow::Result<ExitCode> {
    match command {
        ExecutionCommand::List {
            workflow,
            status,
            limit,
            format,
        } => {
            let mut query = format!("/executions?limit={limit}");
            if let Some(workflow) = workflow {
                query.push_str(&format!(
                    "&workflow={}",
                    client.workflow(&workflow).await?.id
                ));
            }
            if let Some(status) = status {
                query.push_str(&format!("&status={status}"));
            }
            let list = client.call(Method::GET, &query, None).await?;
            if format.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(ExitCode::SUCCESS);
            }
            let mut header = vec!["ID", "WORKFLOW", "STATUS", "STARTED", "DURATION"];
            if format.wide {
                header.splice(2..2, ["WORKFLOW ID", "VERSION"]);
            }
            let rows: Vec<Vec<String>> = items(&list)
                .map(|run| {
                    let mut row = vec![
                        text(&run["id"]),
                        workflow_name(run),
                        text(&run["status"]),
                        time(run["created_at"].as_i64()),
                        duration(run["created_at"].as_i64(), run["finished_at"].as_i64()),
                    ];
                    if format.wide {
                        row.splice(
                            2..2,
                            [text(&run["workflow_id"]), run["version"].to_string()],
                        );
                    }
                    row
                })
                .collect();
            crate::table::print(&header, &rows);
        }
        ExecutionCommand::Get { id, json } => {
            let run = client
                .call(Method::GET, &format!("/executions/{id}"), None)
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&run)?);
                return Ok(ExitCode::SUCCESS);
            }
            let e = &run["execution"];
            println!(
                "run {id} of workflow {} (version {}): {}, started {}, {}",
                workflow_name(e),
                e["version"],
                e["status"].as_str().unwrap_or_default(),
                time(e["created_at"].as_i64()),
                duration(e["created_at"].as_i64(), e["finished_at"].as_i64()),
            );
            if let Some(message) = e["error"]["message"].as_str() {
                println!(
                    "error: {message} (node `{}`)",
                    e["error"]["node"].as_str().unwrap_or("?")
                );
            }
            println!(
                "{:>4}  {:<20} {:<10} {:>7} {:>10}  ERROR",
                "SEQ", "NODE", "STATUS", "ATTEMPT", "DURATION"
            );
            for step in run["steps"].as_array().into_iter().flatten() {
                println!(
                    "{:>4}  {:<20} {:<10} {:>7} {:>10}  {}",
                    step["seq"].to_string(),
                    step["node_id"].as_str().unwrap_or_default(),
                    step["status"].as_str().unwrap_or_default(),
                    step["attempt"].to_string(),
                    duration(step["started_at"].as_i64(), step["finished_at"].as_i64()),
                    step["error"]["message"].as_str().unwrap_or_default(),
                );
            }
            if let Some(urls) = run["resumeUrls"].as_object() {
                for (node, url) in urls {
                    println!("`{node}` waits: POST {url}");
                }
            }
        }
        ExecutionCommand::Tail { id } => return tail(client, &id).await,
        ExecutionCommand::Cancel { id } => {
            client
                .json(Method::POST, &format!("/executions/{id}/cancel"), json!({}))
                .await?;
            println!("run {id} cancelled");
        }
        ExecutionCommand::Retry { id, from_start } => {
            let from = if from_start { "start" } else { "failed" };
            let retried = client
                .json(
                    Method::POST,
                    &format!("/executions/{id}/retry"),
                    json!({ "from": from }),
                )
                .await?;
            println!(
                "retrying as run {}",
                retried["executionId"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The name of a run's workflow; its id when the server gave no name.
fn workflow_name(run: &Value) -> String {
    run["workflow_name"]
        .as_str()
        .or_else(|| run["workflow_id"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// Prints a run's events as they come; exits 0 if it succeeds, 1 if not.
async fn tail(client: &Client, id: &str) -> anyhow::Result<ExitCode> {
    let url = format!("{}/executions/{id}/events", client.api);
    let mut response = client
        .http
        .get(&url)
        .bearer_auth(&client.key)
        .send()
        .await
        .with_context(|| format!("reaching {url}"))?;
    if !response.status().is_success() {
        let text = response.text().await.unwrap_or_default();
        bail!("following run {id}: {text}");
    }
    let mut buffer = String::new();
    let (mut done, mut total) = (0, 0);
    while let Some(chunk) = response.chunk().await? {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let (mut name, mut data) = (String::new(), String::new());
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = n.trim().to_owned();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim());
                }
            }
            let Ok(event) = serde_json::from_str::<Value>(&data) else {
                continue;
            };
            let node = event["node"].as_str().unwrap_or_default();
            match name.as_str() {
                "run.started" => println!("run {id} started"),
                "step.started" => {
                    total += 1;
                    println!("[{done}/{total}] ▶ {node} (attempt {})", event["attempt"]);
                }
                "step.finished" => {
                    let status = event["status"].as_str().unwrap_or_default();
                    if status == "done" {
                        done += 1;
                    }
                    let items = event["outputItems"]
                        .as_u64()
                        .map(|n| format!(", {n} item(s)"))
                        .unwrap_or_default();
                    let error = event["error"]["message"]
                        .as_str()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default();
                    println!(
                        "[{done}/{total}] {} {node} {status} in {} ms{items}{error}",
                        if status == "done" { "✔" } else { "•" },
                        event["durationMs"]
                    );
                }
                "run.finished" => {
                    let status = event["status"].as_str().unwrap_or_default();
                    println!("run {id} {status} in {} ms", event["durationMs"]);
                    return Ok(if status == "succeeded" {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    });
                }
                _ => {}
            }
        }
    }
    bail!("the server closed the stream before run {id} ended")
}
