//! Scale-out: API and worker processes on one PostgreSQL database, told of
//! each other's changes through Redis.

use reqwest::Method;
use serde_json::{Value, json};

use crate::serve::{Server, call, start_with};

const REDIS: &str = "redis://127.0.0.1:6379";

async fn role(data: &std::path::Path, role: &str, database: &str) -> Server {
    start_with(
        data,
        &[
            "--role",
            role,
            "--database-url",
            database,
            "--redis-url",
            REDIS,
        ],
    )
    .await
}

#[tokio::test]
async fn a_webhook_on_an_api_replica_is_answered_by_a_run_a_worker_did() {
    let database = n8n_work_store::testing::postgres().await.unwrap();
    let (api_dir, worker_dir, api2_dir) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let api = role(api_dir.path(), "api", &database.url).await;
    let worker = role(worker_dir.path(), "worker", &database.url).await;
    // A worker answers probes and metrics, not the API.
    let (status, _) = call(
        Method::GET,
        &format!("{}/readyz", worker.base),
        None,
        "text/plain",
        String::new(),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        Method::GET,
        &format!("{}/api/v1/workflows", worker.base),
        Some(&api.key),
        "application/json",
        String::new(),
    )
    .await;
    assert_eq!(status, 404, "the API is not served by workers");

    let secret = "whsec_c2NhbGUtb3V0LXNlY3JldC1rZXktMzJieXRlcw==";
    let yaml = format!(
        "name: scaled\nnodes:\n  - {{id: hook, type: webhook, params: {{path: scaled, auth: {{type: standard-webhooks, secret: '{secret}'}}}}}}\n  - {{id: shape, type: set, params: {{fields: {{ok: true}}}}}}\nconnections:\n  - {{from: hook, to: shape}}\n"
    );
    let (status, created) = call(
        Method::POST,
        &format!("{}/workflows", api.api()),
        Some(&api.key),
        "application/yaml",
        yaml,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    call(
        Method::POST,
        &format!("{}/workflows/{id}/activate", api.api()),
        Some(&api.key),
        "application/json",
        "{}".into(),
    )
    .await;

    // The API process runs no steps: the answer comes from the worker's run.
    let body = r#"{"n":1}"#;
    let message = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let deliver = |base: String| {
        let message = message.clone();
        async move {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                .to_string();
            let key = base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                secret.trim_start_matches("whsec_"),
            )
            .unwrap();
            let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&key).unwrap();
            hmac::Mac::update(&mut mac, format!("{message}.{now}.{body}").as_bytes());
            let sig = base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                hmac::Mac::finalize(mac).into_bytes(),
            );
            reqwest::Client::new()
                .post(format!("{base}/webhook/scaled"))
                .header("content-type", "application/json")
                .header("webhook-id", &message)
                .header("webhook-timestamp", now)
                .header("webhook-signature", format!("v1,{sig}"))
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let answered = deliver(api.base.clone()).await;
    assert_eq!(answered.status(), 200);
    assert_eq!(answered.json::<Value>().await.unwrap()["ok"], true);

    // A second API replica shares the replay cache through Redis.
    let api2 = role(api2_dir.path(), "api", &database.url).await;
    let replayed = deliver(api2.base.clone()).await;
    assert_eq!(replayed.status(), 401);
    assert!(replayed.text().await.unwrap().contains("replay"));

    let (_, runs) = call(
        Method::GET,
        &format!("{}/executions", api2.api()),
        Some(&api.key),
        "application/json",
        String::new(),
    )
    .await;
    assert_eq!(runs["items"].as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(runs["items"][0]["status"], json!("succeeded"));
    drop((api, api2, worker));
    drop(database);
}

#[tokio::test]
async fn split_roles_need_a_shared_database() {
    let data = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_n8n-work"))
        .args(["serve", "--role", "worker", "--listen", "127.0.0.1:0"])
        .env("N8N_WORK_DATA_DIR", data.path())
        .env_remove("N8N_WORK_DATABASE_URL")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--database-url"), "{stderr}");
}

#[tokio::test]
async fn a_lease_too_short_is_refused_by_name() {
    let data = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_n8n-work"))
        .args(["serve", "--lease-ms", "50", "--listen", "127.0.0.1:0"])
        .env("N8N_WORK_DATA_DIR", data.path())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("lease-ms 50"), "{stderr}");
    assert!(stderr.contains("300 or more"), "{stderr}");
}

#[tokio::test]
async fn a_tenants_request_rate_is_one_budget_across_api_replicas() {
    let database = n8n_work_store::testing::postgres().await.unwrap();
    let dirs = [(); 3].map(|()| tempfile::tempdir().unwrap());
    // A prefix of this test's own, so no other test's keys count.
    let ours = format!("n8n-work-test-{}", uuid::Uuid::new_v4().simple());
    let limited = |dir: std::path::PathBuf, prefix: String| {
        let url = database.url.clone();
        async move {
            start_with(
                &dir,
                &[
                    "--role",
                    "api",
                    "--database-url",
                    &url,
                    "--redis-url",
                    REDIS,
                    "--redis-prefix",
                    &prefix,
                    "--tenant-requests-per-second",
                    "3",
                ],
            )
            .await
        }
    };
    let a = limited(dirs[0].path().to_path_buf(), ours.clone()).await;
    let b = limited(dirs[1].path().to_path_buf(), ours.clone()).await;
    // Another deployment on the same Redis, under another prefix.
    let elsewhere = limited(dirs[2].path().to_path_buf(), format!("{ours}-other")).await;
    let status = |server: &Server| {
        let url = format!("{}/workflows", server.api());
        let key = a.key.clone();
        async move {
            call(
                Method::GET,
                &url,
                Some(&key),
                "application/json",
                String::new(),
            )
            .await
            .0
        }
    };
    // Run the tenant's budget out through replica A, then ask replica B. B
    // has served none of those calls, so it refuses only if the budget is
    // shared. At most two tries, each one call to B: B's own budget (3)
    // would never refuse that; a second try covers a new second beginning
    // between A's refusal and B's call.
    let mut refused_by_b = false;
    for _ in 0..2 {
        let mut spent = false;
        for _ in 0..50 {
            if status(&a).await == 429 {
                spent = true;
                break;
            }
        }
        assert!(spent, "replica A refuses past 3 calls per second");
        if status(&b).await == 429 {
            refused_by_b = true;
            break;
        }
    }
    assert!(
        refused_by_b,
        "replica B refuses once replica A has spent the tenant's budget"
    );
    assert_eq!(
        status(&elsewhere).await,
        200,
        "a deployment under another --redis-prefix has budgets of its own"
    );
}
