//! Polling with node state: an HTTP Request node with `newItemsOnly` reads
//! a feed that grows between polls and passes each new item on once,
//! across a restart of the process and across processes on PostgreSQL.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::get;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::api::{push, send};
use crate::chaos::{PrivateRedis, two_apis_and_a_worker};
use crate::serve::{Server, start_with};

/// A feed: a JSON list of entries that the test grows.
#[derive(Clone, Default)]
struct Feed(Arc<Mutex<Vec<Value>>>);

impl Feed {
    async fn start() -> (Feed, String) {
        let feed = Feed::default();
        let app = axum::Router::new()
            .route("/entries", get(Feed::list))
            .with_state(feed.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (feed, base)
    }

    async fn list(State(feed): State<Feed>) -> axum::Json<Value> {
        axum::Json(Value::Array(feed.0.lock().unwrap().clone()))
    }

    /// Adds entries `ids`, newest first as feeds list them.
    fn grow(&self, ids: &[u64]) {
        let mut entries = self.0.lock().unwrap();
        for id in ids {
            entries.insert(
                0,
                json!({ "guid": format!("entry-{id}"), "title": format!("post {id}") }),
            );
        }
    }
}

fn poller(feed: &str) -> String {
    format!(
        "
name: poller
nodes:
  - {{id: start, type: manual}}
  - id: read
    type: 'builtin:http'
    params: {{url: '{feed}/entries', newItemsOnly: {{key: guid}}}}
    egress: ['{feed}']
connections:
  - {{from: start, to: read}}
"
    )
}

/// Runs the poller on `server` and returns the titles it passed on.
async fn poll(server: &Server, workflow: &str) -> Vec<String> {
    let (status, body) = send(
        server,
        Method::POST,
        &format!("/workflows/{workflow}/run?wait=true"),
        json!({}),
    )
    .await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("succeeded")),
        "{body}"
    );
    body["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["title"].as_str().unwrap().to_owned())
        .collect()
}

const LOOPBACK: &[&str] = &["--egress-allow-private", "127.0.0.1"];

#[tokio::test]
async fn a_polling_node_passes_each_new_item_on_once_across_a_restart() {
    let (feed, base) = Feed::start().await;
    let data = tempfile::tempdir().unwrap();
    let server = start_with(data.path(), LOOPBACK).await;
    let workflow = push(&server, &poller(&base)).await;
    feed.grow(&[1, 2]);
    assert_eq!(poll(&server, &workflow).await, vec!["post 2", "post 1"]);
    assert_eq!(
        poll(&server, &workflow).await,
        Vec::<String>::new(),
        "nothing new"
    );
    feed.grow(&[3]);
    assert_eq!(poll(&server, &workflow).await, vec!["post 3"]);

    let mut server = server;
    server.child.kill().await.unwrap();
    let server = start_with(data.path(), LOOPBACK).await;
    assert_eq!(
        poll(&server, &workflow).await,
        Vec::<String>::new(),
        "remembered across a restart"
    );
    feed.grow(&[4, 5]);
    assert_eq!(poll(&server, &workflow).await, vec!["post 5", "post 4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn polling_processes_share_what_was_seen_on_postgresql() {
    let (feed, base) = Feed::start().await;
    let database = n8n_work_store::testing::postgres().await.unwrap();
    let redis = PrivateRedis::start().await;
    let (_dirs, servers) = two_apis_and_a_worker(&database.url, &redis.url()).await;
    let (a, b) = (&servers[0], &servers[1]);
    let workflow = push(a, &poller(&base)).await;
    feed.grow(&[1]);
    assert_eq!(poll(a, &workflow).await, vec!["post 1"]);
    feed.grow(&[2, 3]);
    assert_eq!(poll(b, &workflow).await, vec!["post 3", "post 2"]);
    assert_eq!(poll(a, &workflow).await, Vec::<String>::new());
    feed.grow(&[4]);
    assert_eq!(poll(b, &workflow).await, vec!["post 4"]);
}
