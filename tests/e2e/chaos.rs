//! Chaos: API and worker processes on PostgreSQL and Redis, with a worker
//! killed, Redis restarted and PostgreSQL cut while runs arrive; nothing
//! accepted is lost.
//!
//! Everything is on loopback and every test has its own database and its
//! own `redis-server`: the machine's shared PostgreSQL and Redis are never
//! stopped. PostgreSQL is cut by a TCP proxy in front of it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::serve::{Server, call, start_with};

/// How long a worker's claim holds in these tests: a dead worker's steps
/// move on after this.
const LEASE_MS: &str = "2000";

/// Waits until `ready` holds (polled), for at most `limit`.
async fn until<F, Fut>(what: &str, limit: Duration, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !ready().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `redis-server` of the test's own, so it can be killed and restarted.
pub(crate) struct PrivateRedis {
    port: u16,
    child: Option<tokio::process::Child>,
}

impl PrivateRedis {
    pub(crate) async fn start() -> PrivateRedis {
        let mut redis = PrivateRedis {
            port: free_port(),
            child: None,
        };
        redis.restart().await;
        redis
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on the same port; returns once it answers PING.
    async fn restart(&mut self) {
        let child = tokio::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server runs (apt install redis-server)");
        self.child = Some(child);
        let address = format!("127.0.0.1:{}", self.port);
        until("redis-server answers PING", Duration::from_secs(10), || {
            let address = address.clone();
            async move {
                let Ok(mut socket) = TcpStream::connect(&address).await else {
                    return false;
                };
                let mut reply = [0u8; 7];
                socket.write_all(b"PING\r\n").await.is_ok()
                    && socket.read_exact(&mut reply).await.is_ok()
                    && &reply == b"+PONG\r\n"
            }
        })
        .await;
    }

    /// SIGKILL: gone at once, connections and all.
    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }
}

/// A TCP proxy in front of PostgreSQL that can cut every connection and
/// refuse new ones, then let them through again on the same port.
struct FaultProxy {
    address: SocketAddr,
    upstream: SocketAddr,
    accept: Option<JoinHandle<()>>,
    cuts: watch::Sender<u64>,
}

impl FaultProxy {
    async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (cuts, _) = watch::channel(0);
        let mut proxy = FaultProxy {
            address: listener.local_addr().unwrap(),
            upstream,
            accept: None,
            cuts,
        };
        proxy.accept = Some(proxy.serve(listener));
        proxy
    }

    fn serve(&self, listener: TcpListener) -> JoinHandle<()> {
        let (upstream, cuts) = (self.upstream, self.cuts.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                let mut cut = cuts.subscribe();
                cut.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    // Dropping both sockets is the cut.
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        })
    }

    /// Drops every connection and stops listening: new ones are refused.
    async fn cut(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
            let _ = accept.await;
        }
        self.cuts.send_modify(|n| *n += 1);
    }

    /// Listens again on the same port.
    fn restore(&mut self) {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(self.address).unwrap();
        let listener = socket.listen(1024).unwrap();
        self.accept = Some(self.serve(listener));
    }
}

/// A slow vendor API on loopback that counts the calls it gets, by their
/// `Idempotency-Key`, and keeps each call's JSON body.
#[derive(Clone, Default)]
struct Vendor {
    calls: Arc<Mutex<Vec<(String, Value)>>>,
    delay: Duration,
}

impl Vendor {
    async fn start(delay: Duration) -> (Vendor, String) {
        let vendor = Vendor {
            delay,
            ..Vendor::default()
        };
        let app = axum::Router::new()
            .route("/charge", post(Vendor::charge))
            .with_state(vendor.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (vendor, base)
    }

    async fn charge(
        State(vendor): State<Vendor>,
        headers: HeaderMap,
        body: String,
    ) -> axum::Json<Value> {
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = serde_json::from_str(&body).unwrap_or(Value::Null);
        vendor.calls.lock().unwrap().push((key, body));
        tokio::time::sleep(vendor.delay).await;
        axum::Json(json!({ "charged": true }))
    }

    /// Calls per idempotency key.
    fn counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for (key, _) in self.calls.lock().unwrap().iter() {
            *counts.entry(key.clone()).or_default() += 1;
        }
        counts
    }
}

/// `serve --role ROLE` on `database` and `redis`, with a short lease and
/// loopback egress allowed (the vendor is on loopback).
async fn process(data: &std::path::Path, role: &str, database: &str, redis: &str) -> Server {
    start_with(
        data,
        &[
            "--role",
            role,
            "--database-url",
            database,
            "--redis-url",
            redis,
            "--lease-ms",
            LEASE_MS,
            "--egress-allow-private",
            "127.0.0.1",
        ],
    )
    .await
}

/// One process per role, each with a data directory of its own. The first
/// starts alone, so it is the one that makes (and holds) the owner key;
/// the others start together.
/// Two API processes and a worker; both APIs take the owner key the first
/// one made.
pub(crate) async fn two_apis_and_a_worker(
    database: &str,
    redis: &str,
) -> (Vec<tempfile::TempDir>, Vec<Server>) {
    let (dirs, mut servers) = cluster(database, redis, &["api", "api", "worker"]).await;
    servers[1].key = servers[0].key.clone();
    (dirs, servers)
}

async fn cluster(
    database: &str,
    redis: &str,
    roles: &[&str],
) -> (Vec<tempfile::TempDir>, Vec<Server>) {
    let dirs: Vec<_> = roles.iter().map(|_| tempfile::tempdir().unwrap()).collect();
    let mut servers = vec![process(dirs[0].path(), roles[0], database, redis).await];
    let rest = dirs[1..]
        .iter()
        .zip(&roles[1..])
        .map(|(dir, role)| process(dir.path(), role, database, redis));
    servers.extend(futures::future::join_all(rest).await);
    (dirs, servers)
}

/// Pushes and activates `yaml`; returns the workflow's id.
async fn push_active(api: &Server, yaml: &str) -> String {
    let (status, created) = call(
        Method::POST,
        &format!("{}/workflows", api.api()),
        Some(&api.key),
        "application/yaml",
        yaml.to_owned(),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, body) = call(
        Method::POST,
        &format!("{}/workflows/{id}/activate", api.api()),
        Some(&api.key),
        "application/json",
        "{}".into(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    id
}

/// A webhook run that charges the vendor once; the webhook answers 202
/// as soon as the run is stored.
fn charging_workflow(vendor: &str) -> String {
    format!(
        "
name: charge
nodes:
  - {{id: hook, type: webhook, params: {{path: charge, method: POST, respond: onReceived}}}}
  - {{id: pay, type: 'builtin:http', params: {{method: POST, url: '{vendor}/charge', body: {{json: {{order: '{{{{ $json.body.order }}}}'}}}}}}, egress: ['{vendor}']}}
connections:
  - {{from: hook, to: pay}}
"
    )
}

/// What a webhook call got: its status, and the run id when accepted.
#[derive(Debug)]
struct Delivery {
    status: u16,
    run: Option<String>,
    body: Value,
    retry_after: Option<String>,
}

/// Webhook answers, as they arrive.
type Deliveries = Arc<Mutex<Vec<Delivery>>>;

/// Posts orders to `/webhook/charge` on the given bases in turn, one every
/// `every`, until `stop`; the task ends once every call is answered.
fn load(
    bases: Vec<String>,
    every: Duration,
    stop: CancellationToken,
) -> (Deliveries, JoinHandle<()>) {
    let deliveries = Deliveries::default();
    let answers = deliveries.clone();
    let task = tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let mut sent = tokio::task::JoinSet::new();
        let mut order = 0usize;
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.cancelled() => break,
            }
            let url = format!("{}/webhook/charge", bases[order % bases.len()]);
            let request = client
                .post(url)
                .header("content-type", "application/json")
                .body(json!({ "order": order }).to_string());
            order += 1;
            let answers = answers.clone();
            sent.spawn(async move {
                let response = request
                    .send()
                    .await
                    .expect("every webhook call is answered");
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body: Value = response.json().await.unwrap_or(Value::Null);
                answers.lock().unwrap().push(Delivery {
                    status,
                    run: body["executionId"].as_str().map(str::to_owned),
                    body,
                    retry_after,
                });
            });
        }
        sent.join_all().await;
    });
    (deliveries, task)
}

/// The runs accepted so far.
fn runs_so_far(deliveries: &Deliveries) -> Vec<String> {
    deliveries
        .lock()
        .unwrap()
        .iter()
        .filter_map(|d| d.run.clone())
        .collect()
}

/// Waits until every run in `runs` has ended; returns their final statuses.
async fn final_statuses(api: &Server, runs: &[String]) -> BTreeMap<String, String> {
    let mut statuses = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    for run in runs {
        loop {
            let (_, body) = call(
                Method::GET,
                &format!("{}/executions/{run}", api.api()),
                Some(&api.key),
                "application/json",
                String::new(),
            )
            .await;
            let status = body["execution"]["status"].as_str().unwrap_or_default();
            if matches!(status, "succeeded" | "failed" | "cancelled") {
                statuses.insert(run.clone(), status.to_owned());
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "run {run} never ended: {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    statuses
}

/// The value of an unlabelled metric in `/metrics` text.
pub(crate) async fn metric(server: &Server, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("{}/metrics", server.base))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// The accepted runs, with every answer checked to be 202 or, when
/// `unavailable_ok`, a 503 that says why and when to retry.
fn accepted(deliveries: &[Delivery], unavailable_ok: bool) -> Vec<String> {
    for d in deliveries {
        match d.status {
            202 => assert!(d.run.is_some(), "{d:?}"),
            503 if unavailable_ok => {
                assert_eq!(d.body["error"]["code"], "database_unavailable", "{d:?}");
                assert!(d.retry_after.is_some(), "a 503 says when to retry: {d:?}");
            }
            _ => panic!("a webhook call got {d:?}"),
        }
    }
    deliveries.iter().filter_map(|d| d.run.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_step_loses_no_run_and_reruns_no_finished_step() {
    let database = n8n_work_store::testing::postgres().await.unwrap();
    let redis = PrivateRedis::start().await;
    // A slow vendor: a worker seen running a charge still runs it a moment
    // later, when it is killed.
    let (vendor, vendor_url) = Vendor::start(Duration::from_secs(3)).await;
    let (_dirs, mut servers) = cluster(&database.url, &redis.url(), &["api", "worker"]).await;
    let (mut doomed, api) = (servers.pop().unwrap(), servers.pop().unwrap());
    push_active(&api, &charging_workflow(&vendor_url)).await;
    let tenant = n8n_work_store::DEFAULT_TENANT;
    // Who holds the running charges of `runs`, and since when.
    let running = |runs: Vec<String>| {
        let database = &database;
        async move {
            let mut held = Vec::new();
            for run in runs {
                for step in database.steps(tenant, &run).await.unwrap() {
                    if step.node_id == "pay" && step.status == n8n_work_store::StepStatus::Running {
                        held.extend(step.lease_owner.zip(step.started_at));
                    }
                }
            }
            held
        }
    };
    // A first run on the doomed worker alone warms it up (its first charge
    // loads the HTTP node) and shows its name in leases.
    let (status, first) = call(
        Method::POST,
        &format!("{}/webhook/charge", api.base),
        None,
        "application/json",
        json!({ "order": "warm-up" }).to_string(),
    )
    .await;
    assert_eq!(status, 202, "{first}");
    let first = first["executionId"].as_str().unwrap().to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let doomed_name = loop {
        if let Some((owner, _)) = running(vec![first.clone()]).await.pop() {
            break owner;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first charge never ran"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    final_statuses(&api, std::slice::from_ref(&first)).await;
    let dir = tempfile::tempdir().unwrap();
    let survivor = process(dir.path(), "worker", &database.url, &redis.url()).await;

    let stop = CancellationToken::new();
    let (deliveries, sending) = load(
        vec![api.base.clone()],
        Duration::from_millis(100),
        stop.clone(),
    );
    // Kill while the doomed worker has had a charge in flight at the vendor
    // for a while.
    until(
        "the doomed worker is mid-charge",
        Duration::from_secs(60),
        || async {
            let now = n8n_work_store::now_millis();
            running(runs_so_far(&deliveries))
                .await
                .iter()
                .any(|(owner, since)| *owner == doomed_name && now - since > 1_000)
        },
    )
    .await;
    doomed.child.kill().await.unwrap();
    let killed_at = n8n_work_store::now_millis();
    // Runs keep arriving after the kill; then the load stops.
    let before = runs_so_far(&deliveries).len();
    until(
        "runs are accepted after the kill",
        Duration::from_secs(30),
        || async { runs_so_far(&deliveries).len() >= before + 20 },
    )
    .await;
    stop.cancel();
    sending.await.unwrap();
    let runs = accepted(&deliveries.lock().unwrap(), false);

    let statuses = final_statuses(&api, &runs).await;
    let completed = statuses.values().filter(|s| *s == "succeeded").count();
    let counts = vendor.counts();
    // The steps the store had recorded as done before the kill.
    let mut done_before_kill = HashSet::new();
    let mut reclaimed = 0;
    for run in &runs {
        for step in database.steps(tenant, run).await.unwrap() {
            if step.node_id != "pay" {
                continue;
            }
            if step.finished_at.is_some_and(|t| t < killed_at) {
                done_before_kill.insert(step.idempotency_key.clone());
            }
            if step.attempt > 1 {
                reclaimed += 1;
            }
            assert!(
                counts.get(&step.idempotency_key).copied().unwrap_or(0) >= 1,
                "run {run}'s charge reached the vendor"
            );
        }
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    println!(
        "worker killed mid-step: {} runs accepted, {completed} completed, {} lost, {} steps ran twice (all of them in flight on the killed worker), {} vendor calls",
        runs.len(),
        runs.len() - completed,
        twice.len(),
        counts.values().sum::<usize>()
    );
    assert_eq!(
        completed,
        runs.len(),
        "every accepted run completes: {statuses:?}"
    );
    assert!(
        reclaimed >= 1,
        "the killed worker held steps that another worker took over"
    );
    assert!(
        !twice.is_empty(),
        "a charge in flight at the kill ran again, with the same idempotency key"
    );
    for (key, n) in &twice {
        assert!(
            !done_before_kill.contains(*key),
            "step {key} had completed before the kill, yet ran {n} times"
        );
        assert_eq!(
            **n, 2,
            "a step in flight at the kill runs again once: {key}"
        );
    }
    drop((api, doomed, survivor, database));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runs_arriving_while_redis_restarts_all_complete_by_polling() {
    let database = n8n_work_store::testing::postgres().await.unwrap();
    let mut redis = PrivateRedis::start().await;
    let (_vendor, vendor_url) = Vendor::start(Duration::from_millis(50)).await;
    let (_dirs, mut servers) = cluster(&database.url, &redis.url(), &["api", "worker"]).await;
    let (worker, api) = (servers.pop().unwrap(), servers.pop().unwrap());
    push_active(&api, &charging_workflow(&vendor_url)).await;
    let connected = "n8n_work_redis_connected";
    until(
        "the worker is connected to Redis",
        Duration::from_secs(20),
        || async { metric(&worker, connected).await == Some(1.0) },
    )
    .await;

    let stop = CancellationToken::new();
    let (deliveries, sending) = load(
        vec![api.base.clone()],
        Duration::from_millis(100),
        stop.clone(),
    );
    until("runs are accepted", Duration::from_secs(20), || async {
        runs_so_far(&deliveries).len() >= 10
    })
    .await;
    redis.kill().await;
    until(
        "the worker reports Redis down",
        Duration::from_secs(20),
        || async { metric(&worker, connected).await == Some(0.0) },
    )
    .await;
    // With Redis down, nothing wakes the worker: a run accepted now is
    // found by its fallback poll of the store.
    let during = runs_so_far(&deliveries).len();
    until(
        "a run is accepted while Redis is down",
        Duration::from_secs(20),
        || async { runs_so_far(&deliveries).len() > during },
    )
    .await;
    let polled = runs_so_far(&deliveries)[during].clone();
    let statuses = final_statuses(&api, std::slice::from_ref(&polled)).await;
    assert_eq!(statuses[&polled], "succeeded");
    assert_eq!(
        metric(&worker, connected).await,
        Some(0.0),
        "the run completed while Redis was still down"
    );

    redis.restart().await;
    until(
        "the worker reconnects to Redis",
        Duration::from_secs(30),
        || async { metric(&worker, connected).await == Some(1.0) },
    )
    .await;
    let after = runs_so_far(&deliveries).len();
    until(
        "runs are accepted after the restart",
        Duration::from_secs(20),
        || async { runs_so_far(&deliveries).len() >= after + 10 },
    )
    .await;
    stop.cancel();
    sending.await.unwrap();
    let runs = accepted(&deliveries.lock().unwrap(), false);
    let statuses = final_statuses(&api, &runs).await;
    let completed = statuses.values().filter(|s| *s == "succeeded").count();
    println!(
        "Redis restarted under load: {} runs accepted, {completed} completed, {} lost",
        runs.len(),
        runs.len() - completed
    );
    assert_eq!(completed, runs.len(), "{statuses:?}");
    drop((api, worker, database));
}

/// What `/readyz` answers (0 for no answer).
async fn ready(server: &Server) -> u16 {
    reqwest::get(format!("{}/readyz", server.base))
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// The host and port a PostgreSQL URL points at.
async fn postgres_address(url: &str) -> (SocketAddr, String) {
    let rest = url.split_once("://").unwrap().1;
    let authority = rest.split('/').next().unwrap();
    let host_port = authority.rsplit('@').next().unwrap();
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    let address = tokio::net::lookup_host(&host_port)
        .await
        .unwrap()
        .next()
        .unwrap();
    (address, authority.rsplit('@').next().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_postgresql_cut_the_api_answers_503_then_recovers_and_loses_no_run() {
    let database = n8n_work_store::testing::postgres().await.unwrap();
    let (upstream, authority) = postgres_address(&database.url).await;
    let mut proxy = FaultProxy::start(upstream).await;
    let through_proxy = database
        .url
        .replacen(&authority, &proxy.address.to_string(), 1);
    let redis = PrivateRedis::start().await;
    let (_vendor, vendor_url) = Vendor::start(Duration::from_millis(200)).await;
    let (_dirs, mut servers) = cluster(&through_proxy, &redis.url(), &["api", "worker"]).await;
    let (worker, api) = (servers.pop().unwrap(), servers.pop().unwrap());
    push_active(&api, &charging_workflow(&vendor_url)).await;

    let stop = CancellationToken::new();
    let (deliveries, sending) = load(
        vec![api.base.clone()],
        Duration::from_millis(100),
        stop.clone(),
    );
    until("runs are accepted", Duration::from_secs(20), || async {
        runs_so_far(&deliveries).len() >= 10
    })
    .await;
    let cut_at = tokio::time::Instant::now();
    proxy.cut().await;
    until("/readyz says 503", Duration::from_secs(20), || async {
        ready(&api).await == 503
    })
    .await;
    let (status, body) = call(
        Method::GET,
        &format!("{}/executions", api.api()),
        Some(&api.key),
        "application/json",
        String::new(),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "database_unavailable", "{body}");
    assert_eq!(ready(&worker).await, 503, "the worker is not ready either");
    // The fault lasts ten seconds.
    tokio::time::sleep_until(cut_at + Duration::from_secs(10)).await;
    proxy.restore();
    until(
        "/readyz says 200 again",
        Duration::from_secs(30),
        || async { ready(&api).await == 200 },
    )
    .await;
    let after = runs_so_far(&deliveries).len();
    until(
        "runs are accepted after the restore",
        Duration::from_secs(30),
        || async { runs_so_far(&deliveries).len() >= after + 10 },
    )
    .await;
    stop.cancel();
    sending.await.unwrap();
    let deliveries = std::mem::take(&mut *deliveries.lock().unwrap());
    let refused = deliveries.iter().filter(|d| d.status == 503).count();
    let runs = accepted(&deliveries, true);
    assert!(refused > 0, "webhooks during the cut were answered 503");
    let statuses = final_statuses(&api, &runs).await;
    let completed = statuses.values().filter(|s| *s == "succeeded").count();
    println!(
        "PostgreSQL cut for 10 s: {} webhooks answered 503, {} runs accepted, {completed} completed, {} lost",
        refused,
        runs.len(),
        runs.len() - completed
    );
    assert_eq!(completed, runs.len(), "{statuses:?}");
    drop((api, worker, database));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_synchronous_webhook_is_answered_through_either_api_replica() {
    let database = n8n_work_store::testing::postgres().await.unwrap();
    let redis = PrivateRedis::start().await;
    let (_dirs, servers) = cluster(
        &database.url,
        &redis.url(),
        &["api", "api", "worker", "worker"],
    )
    .await;
    let hello = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello.yaml"),
    )
    .unwrap();
    // Activated through the first replica, while the second already runs:
    // it hears of the activation through Redis.
    push_active(&servers[0], &hello).await;
    for (replica, name) in servers[..2].iter().zip(["Ada", "Grace"]) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let answer = loop {
            let answer = call(
                Method::POST,
                &format!("{}/webhook/hello", replica.base),
                None,
                "application/json",
                json!({ "name": name }).to_string(),
            )
            .await;
            if answer.0 != 404 || tokio::time::Instant::now() > deadline {
                break answer;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(
            answer,
            (200, json!({ "greeting": format!("hello {name}") })),
            "answered through {}",
            replica.base
        );
    }
    drop((servers, database));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_schedule_tick_fires_once_across_workers_and_none_is_lost_when_one_dies() {
    let database = n8n_work_store::testing::postgres().await.unwrap();
    let redis = PrivateRedis::start().await;
    let (vendor, vendor_url) = Vendor::start(Duration::ZERO).await;
    let (_dirs, mut servers) =
        cluster(&database.url, &redis.url(), &["api", "worker", "worker"]).await;
    let (survivor, mut doomed, api) = (
        servers.pop().unwrap(),
        servers.pop().unwrap(),
        servers.pop().unwrap(),
    );
    // Both workers already run: they hear of the activation through Redis.
    push_active(
        &api,
        &format!(
            "
name: ticker
nodes:
  - {{id: every, type: schedule, params: {{every: 1s}}}}
  - {{id: pay, type: 'builtin:http', params: {{method: POST, url: '{vendor_url}/charge', body: {{json: {{tick: '{{{{ $json.tick }}}}'}}}}}}, egress: ['{vendor_url}']}}
connections:
  - {{from: every, to: pay}}
"
        ),
    )
    .await;
    // Each tick's calls, by the idempotency key of the step that made them:
    // a tick fired twice would show two keys.
    let ticks = || {
        let mut ticks: BTreeMap<i64, HashSet<String>> = BTreeMap::new();
        for (key, body) in vendor.calls.lock().unwrap().iter() {
            let tick = match &body["tick"] {
                Value::String(s) => s.parse().unwrap(),
                other => other.as_i64().unwrap(),
            };
            ticks.entry(tick).or_default().insert(key.clone());
        }
        ticks
    };
    let activated = std::time::Instant::now();
    until(
        "both workers fire ticks",
        Duration::from_secs(30),
        || async { ticks().len() >= 3 },
    )
    .await;
    println!(
        "the workers fired their third tick {:?} after the activation",
        activated.elapsed()
    );
    doomed.child.kill().await.unwrap();
    let at_kill = ticks().len();
    until(
        "ticks fire after the kill",
        Duration::from_secs(30),
        || async { ticks().len() >= at_kill + 5 },
    )
    .await;
    // Runs may reach the vendor out of order: wait for every tick up to
    // the newest seen.
    let (first, last) = {
        let seen = ticks();
        (*seen.keys().next().unwrap(), *seen.keys().last().unwrap())
    };
    let expected: Vec<i64> = (first..=last).step_by(1000).collect();
    let mut missing = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        let seen = ticks();
        missing = expected
            .iter()
            .filter(|t| !seen.contains_key(t))
            .copied()
            .collect();
        if missing.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = ticks();
    let twice: Vec<_> = seen.iter().filter(|(_, keys)| keys.len() > 1).collect();
    println!(
        "every-second schedule on two workers, one killed: {} ticks, {} lost, {} fired twice",
        expected.len(),
        missing.len(),
        twice.len()
    );
    assert!(missing.is_empty(), "ticks lost: {missing:?}");
    assert!(twice.is_empty(), "ticks fired twice: {twice:?}");
    drop((api, doomed, survivor, database));
}

/// A synchronous webhook run executes in the process that accepted it, and
/// is journaled before it calls out. Killed (-9) while its call to the
/// vendor is in flight, the run is resumed from its journal by the process
/// that starts next on the same data: the step before the call is not run
/// again, the call is made again with the same idempotency key, and the
/// run ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_synchronous_run_killed_at_its_call_out_is_resumed_with_the_same_key() {
    let (vendor, base) = Vendor::start(Duration::from_millis(500)).await;
    let data = tempfile::tempdir().unwrap();
    let flags = [
        "--lease-ms",
        LEASE_MS,
        "--egress-allow-private",
        "127.0.0.1",
    ];
    let mut first = start_with(data.path(), &flags).await;
    push_active(
        &first,
        &format!(
            "
name: pay-now
nodes:
  - {{id: hook, type: webhook, params: {{path: pay-now, method: POST, respond: lastNode}}}}
  - {{id: order, type: set, params: {{fields: {{order: '{{{{ $json.body.order }}}}'}}}}}}
  - {{id: pay, type: 'builtin:http', params: {{method: POST, url: '{base}/charge', body: {{json: {{order: '{{{{ $json.order }}}}'}}}}}}, egress: ['{base}']}}
connections:
  - {{from: hook, to: order}}
  - {{from: order, to: pay}}
"
        ),
    )
    .await;
    let url = format!("{}/webhook/pay-now", first.base);
    let request = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .json(&json!({ "order": "A-1" }))
            .send()
            .await
    });
    until("the vendor sees the call", Duration::from_secs(30), || {
        let vendor = vendor.clone();
        async move { !vendor.counts().is_empty() }
    })
    .await;
    first.child.start_kill().unwrap();
    first.child.wait().await.unwrap();
    assert!(
        request.await.unwrap().is_err(),
        "the caller got no answer from the killed process"
    );
    let second = start_with(data.path(), &flags).await;
    let (status, runs) = call(
        Method::GET,
        &format!("{}/executions", second.api()),
        Some(&second.key),
        "application/json",
        String::new(),
    )
    .await;
    assert_eq!(status, 200, "{runs}");
    let run = runs["items"][0]["id"]
        .as_str()
        .expect("the run is journaled")
        .to_owned();
    until("the run ends", Duration::from_secs(60), || {
        let (api, key, run) = (second.api(), second.key.clone(), run.clone());
        async move {
            let (_, body) = call(
                Method::GET,
                &format!("{api}/executions/{run}"),
                Some(&key),
                "application/json",
                String::new(),
            )
            .await;
            body["execution"]["status"] == "succeeded"
        }
    })
    .await;
    let counts = vendor.counts();
    assert_eq!(counts.len(), 1, "{counts:?}");
    let (key, calls) = counts.into_iter().next().unwrap();
    assert_eq!(calls, 2, "the call in flight was made again, with its key");
    assert_eq!(key, format!("{run}/pay/0"));
    assert!(
        vendor
            .calls
            .lock()
            .unwrap()
            .iter()
            .all(|(_, body)| body["order"] == "A-1"),
        "from the journaled output of the step before it"
    );
    let (_, steps) = call(
        Method::GET,
        &format!("{}/executions/{run}", second.api()),
        Some(&second.key),
        "application/json",
        String::new(),
    )
    .await;
    let order = steps["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["node_id"] == "order")
        .count();
    assert_eq!(order, 1, "the step before the call ran once: {steps}");
}

/// Synchronous webhook runs under load, the process killed (-9) while
/// appends are being group-committed: every request that was answered 2xx
/// has its run recorded as ended after a restart on the same data.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_answered_synchronous_run_survives_a_kill_mid_commit() {
    let data = tempfile::tempdir().unwrap();
    let mut first = start_with(data.path(), &[]).await;
    push_active(
        &first,
        "
name: answer
nodes:
  - {id: hook, type: webhook, params: {path: answer, method: POST, respond: lastNode}}
  - {id: shape, type: set, params: {fields: {run: '{{ $execution.id }}', n: '{{ $json.body.n }}'}}}
connections:
  - {from: hook, to: shape}
",
    )
    .await;
    let answered: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = CancellationToken::new();
    let clients: Vec<_> = (0..16)
        .map(|client| {
            let (url, answered, stop) = (
                format!("{}/webhook/answer", first.base),
                answered.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                for n in 0.. {
                    let sent = http
                        .post(&url)
                        .json(&json!({ "n": client * 1_000_000 + n }))
                        .send();
                    let Ok(response) = (tokio::select! {
                        sent = sent => sent,
                        _ = stop.cancelled() => return,
                    }) else {
                        return;
                    };
                    if !response.status().is_success() {
                        continue;
                    }
                    let Ok(body) = response.json::<Value>().await else {
                        return;
                    };
                    answered
                        .lock()
                        .unwrap()
                        .push(body["run"].as_str().unwrap().to_owned());
                }
            })
        })
        .collect();
    until("200 answers", Duration::from_secs(60), || {
        let answered = answered.clone();
        async move { answered.lock().unwrap().len() >= 200 }
    })
    .await;
    // Mid-load: appends are being committed as the process dies.
    first.child.start_kill().unwrap();
    first.child.wait().await.unwrap();
    stop.cancel();
    futures::future::join_all(clients).await;
    let answered = answered.lock().unwrap().clone();
    let second = start_with(data.path(), &[]).await;
    for run in &answered {
        let (status, body) = call(
            Method::GET,
            &format!("{}/executions/{run}", second.api()),
            Some(&second.key),
            "application/json",
            String::new(),
        )
        .await;
        assert_eq!(
            status, 200,
            "run {run} was answered but is not stored: {body}"
        );
        assert_eq!(body["execution"]["status"], "succeeded", "{body}");
    }
}

/// Node state (`wit/node.wit`'s `state`) is the store's, not a process's:
/// two API processes on one PostgreSQL database run the same counting node
/// in turn, each call sees the count the other left, and a worker that
/// drives the node's runs from the queue sees it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_state_is_shared_by_every_process() {
    let database = n8n_work_store::testing::postgres().await.unwrap();
    let redis = PrivateRedis::start().await;
    let (_dirs, servers) = two_apis_and_a_worker(&database.url, &redis.url()).await;
    let (a, b) = (&servers[0], &servers[1]);
    let workflow = push_active(
        a,
        "
name: counter
nodes:
  - {id: hook, type: webhook, params: {path: count, method: POST, respond: lastNode}}
  - {id: count, type: 'builtin:test-guest', params: {mode: state}}
connections:
  - {from: hook, to: count}
",
    )
    .await;
    // Synchronous webhook runs execute in the process that accepts them.
    for (n, server) in [a, b, a, b].into_iter().enumerate() {
        let (status, body) = call(
            Method::POST,
            &format!("{}/webhook/count", server.base),
            None,
            "application/json",
            "{}".into(),
        )
        .await;
        assert_eq!((status, &body), (200, &json!({ "counter": n + 1 })));
    }
    // A run started on the queue is driven by the worker.
    let (status, started) = call(
        Method::POST,
        &format!("{}/workflows/{workflow}/run", b.api()),
        Some(&b.key),
        "application/json",
        "{}".into(),
    )
    .await;
    assert_eq!(status, 202, "{started}");
    let run = started["executionId"].as_str().unwrap().to_owned();
    assert_eq!(
        final_statuses(b, std::slice::from_ref(&run)).await[&run],
        "succeeded"
    );
    let (status, view) = call(
        Method::GET,
        &format!("{}/executions/{run}", a.api()),
        Some(&a.key),
        "application/json",
        String::new(),
    )
    .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        view["nodeState"],
        json!({ "count": { "counter": "5" } }),
        "{view}"
    );
}

/// One audit chain per deployment: a replica started on the same
/// PostgreSQL with an audit key of its own would break the chain with its
/// first entry, so it does not start, and says which setting to give it; a
/// replica with the deployment's key starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_with_another_audit_key_refuses_to_start() {
    let database = n8n_work_store::testing::postgres().await.unwrap();
    let redis = PrivateRedis::start().await;
    let keys = tempfile::tempdir().unwrap();
    let (ours, theirs) = (keys.path().join("ours"), keys.path().join("theirs"));
    std::fs::create_dir_all(&ours).unwrap();
    std::fs::create_dir_all(&theirs).unwrap();
    let flags = [
        "--role",
        "api",
        "--database-url",
        &database.url,
        "--redis-url",
        &redis.url(),
    ];
    let first_dir = tempfile::tempdir().unwrap();
    let first =
        crate::serve::start_env(first_dir.path(), &flags, &crate::access::audit_env(&ours)).await;
    // An audited write: the chain has an entry sealed with our key.
    push_active(&first, &charging_workflow("http://127.0.0.1:9")).await;

    let stranger = tempfile::tempdir().unwrap();
    let started = tokio::process::Command::new(env!("CARGO_BIN_EXE_n8n-work"))
        .arg("serve")
        .args(flags)
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .env("N8N_WORK_DATA_DIR", stranger.path())
        .envs(crate::access::audit_env(&theirs))
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), started)
        .await
        .expect("a replica with another audit key stops at once")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "it must not start: {stderr}");
    assert!(
        stderr.contains("sealed with another audit key") && stderr.contains("N8N_WORK_AUDIT_KEY"),
        "{stderr}"
    );

    // With the deployment's key, a second replica starts and serves.
    let second_dir = tempfile::tempdir().unwrap();
    let mut second =
        crate::serve::start_env(second_dir.path(), &flags, &crate::access::audit_env(&ours)).await;
    second.key = first.key.clone();
    push_active(
        &second,
        &charging_workflow("http://127.0.0.1:9")
            .replace("name: charge", "name: charge-again")
            .replace("path: charge", "path: charge-again"),
    )
    .await;
}
