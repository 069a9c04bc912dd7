//! The store's transitions against SQLite and PostgreSQL.

use n8n_work_store::*;
use serde_json::json;

fn run(id: &str, trigger: &str) -> NewExecution {
    NewExecution {
        tenant: DEFAULT_TENANT.into(),
        id: id.into(),
        workflow_id: "wf".into(),
        version: 1,
        trigger: trigger.into(),
        items: json!([{ "n": 1 }]),
        sequential: false,
        parent: None,
    }
}

fn done(step: &Claimed, owner: &str, successors: Vec<NewStep>) -> Completion {
    Completion {
        key: step.key.clone(),
        owner: owner.into(),
        outcome: Outcome::Done {
            outputs: json!({ "main": step.input["main"] }),
            successors,
            response: None,
            state: None,
            node_state: None,
        },
        usage: Usage {
            duration_us: 7,
            fuel: 11,
            ..Usage::default()
        },
        logs: vec![],
        claim: None,
    }
}

fn next(node: &str, input: &str, expected: u32) -> NewStep {
    NewStep {
        node_id: node.into(),
        iteration: 0,
        input_name: input.into(),
        items: json!([{ "from": node }]),
        inputs_expected: expected,
    }
}

n8n_work_store::both_backends! {
    async fn a_chain_runs_to_success_once(store) {
        assert_eq!(store.start(run("r1", "start"), 100).await.unwrap(), Started::Created);
        assert_eq!(store.start(run("r1", "start"), 100).await.unwrap(), Started::Existing);
        let claimed = store.claim("w", 10, 100, 1_000).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].idempotency_key, "r1/start/0");
        assert_eq!(claimed[0].attempt, 1);
        // Claimed steps are not claimed twice.
        assert!(store.claim("other", 10, 100, 1_000).await.unwrap().is_empty());
        let applied = store.complete(done(&claimed[0], "w", vec![next("b", "main", 1)]), 110).await.unwrap();
        assert!(applied.recorded);
        let b = store.claim("w", 10, 110, 1_000).await.unwrap();
        assert_eq!(b[0].node_id, "b");
        assert_eq!(b[0].input, json!({ "main": [{ "from": "b" }] }));
        let applied = store.complete(done(&b[0], "w", vec![]), 120).await.unwrap();
        assert_eq!(applied.finished, vec![("r1".to_owned(), ExecutionStatus::Succeeded)]);
        let execution = store.execution(DEFAULT_TENANT, "r1").await.unwrap();
        assert_eq!(execution.status, ExecutionStatus::Succeeded);
        assert_eq!(execution.result, Some(json!({ "main": [{ "from": "b" }] })));
        let steps = store.steps(DEFAULT_TENANT, "r1").await.unwrap();
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].usage.fuel, 11);
        assert!(steps.iter().all(|s| s.status == StepStatus::Done));
    }
}

n8n_work_store::both_backends! {
    async fn a_merge_collects_its_inputs_and_a_lost_lease_records_nothing(store) {
        store.start(run("r2", "start"), 0).await.unwrap();
        let start = store.claim("w", 10, 0, 1_000).await.unwrap();
        store
            .complete(done(&start[0], "w", vec![next("a", "main", 1), next("b", "main", 1)]), 1)
            .await
            .unwrap();
        let branches = store.claim("w", 10, 1, 1_000).await.unwrap();
        assert_eq!(branches.len(), 2);
        store.complete(done(&branches[0], "w", vec![next("m", "0", 2)]), 2).await.unwrap();
        // One input in: the merge is not claimable yet.
        assert!(store.claim("w", 10, 2, 1_000).await.unwrap().is_empty());
        // A worker whose lease was reclaimed cannot complete the step.
        assert_eq!(store.reclaim(5_000, None).await.unwrap(), 1);
        let stale = store.complete(done(&branches[1], "w", vec![]), 5_001).await.unwrap();
        assert!(!stale.recorded);
        let again = store.claim("w2", 10, 5_001, 9_000).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].attempt, 2, "a re-run after a lost lease is a new attempt");
        assert_eq!(again[0].idempotency_key, branches[1].idempotency_key);
        store.complete(done(&again[0], "w2", vec![next("m", "1", 2)]), 5_002).await.unwrap();
        let merge = store.claim("w", 10, 5_002, 9_000).await.unwrap();
        assert_eq!(merge.len(), 1);
        assert_eq!(merge[0].input.as_object().unwrap().len(), 2);
        let applied = store.complete(done(&merge[0], "w", vec![]), 5_003).await.unwrap();
        assert_eq!(applied.finished[0].1, ExecutionStatus::Succeeded);
    }
}

n8n_work_store::both_backends! {
    async fn writes_arriving_together_share_commits(store) {
        let runs = 64;
        let mut starts = Vec::new();
        let before = store.stats();
        for i in 0..runs {
            let store = store.store.clone();
            starts.push(tokio::spawn(async move { store.start(run(&format!("g{i}"), "start"), 0).await }));
        }
        for start in starts {
            assert_eq!(start.await.unwrap().unwrap(), Started::Created);
        }
        let after = store.stats();
        assert_eq!(after.writes - before.writes, runs);
        assert!(
            after.commits - before.commits < runs,
            "{} commits for {runs} concurrent runs",
            after.commits - before.commits
        );
        assert_eq!(store.claim("w", 1_000, 0, 1).await.unwrap().len(), runs as usize);
    }
}

#[tokio::test]
async fn a_database_from_a_newer_binary_is_refused() {
    let store = n8n_work_store::testing::sqlite().await.unwrap();
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&store.url)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', TRUE, x'00', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let error = Store::open(&store.url).await.unwrap_err().to_string();
    assert!(error.contains("schema version 9999"), "{error}");
    assert!(error.contains("Upgrade n8n-work"), "{error}");
}

n8n_work_store::both_backends! {
    async fn a_failed_write_reports_its_own_error(store) {
        // The error travels on its own channel; it must win over the
        // dropped value channel every time.
        for _ in 0..50 {
            let error = store.replay(DEFAULT_TENANT, "no-such-letter", 0).await.unwrap_err();
            assert!(matches!(error, StoreError::NotFound(_)), "{error:?}");
        }
        // And the failed write did not poison the batch it shared.
        assert_eq!(store.start(run("after", "start"), 0).await.unwrap(), Started::Created);
    }
}

n8n_work_store::both_backends! {
    async fn a_tenants_usage_counts_its_open_runs_and_its_recent_steps(store) {
        store.start(run("old", "start"), 10).await.unwrap();
        let first = store.claim("w", 10, 10, 1_000).await.unwrap();
        store.complete(done(&first[0], "w", vec![]), 11).await.unwrap();
        store.start(run("new", "start"), 100).await.unwrap();
        let start = store.claim("w", 10, 100, 1_000).await.unwrap();
        store
            .complete(done(&start[0], "w", vec![next("a", "main", 1), next("b", "main", 1)]), 101)
            .await
            .unwrap();
        assert_eq!(store.running_executions(DEFAULT_TENANT).await.unwrap(), 1, "`old` ended");
        assert_eq!(store.steps_since(DEFAULT_TENANT, 100).await.unwrap(), 3, "`new`'s three steps");
        assert_eq!(store.steps_since(DEFAULT_TENANT, 0).await.unwrap(), 4);
        assert_eq!(store.running_executions("another").await.unwrap(), 0);
        assert_eq!(store.steps_since("another", 0).await.unwrap(), 0);
    }
}

n8n_work_store::both_backends! {
    async fn run_counts_are_per_workflow_with_the_failed_ones(store) {
        let of = |id: &str, workflow: &str| NewExecution { workflow_id: workflow.into(), ..run(id, "start") };
        for (id, workflow) in [("r1", "wf"), ("r2", "wf"), ("r3", "other")] {
            store.start(of(id, workflow), 100).await.unwrap();
        }
        let claimed = store.claim("w", 10, 100, 1_000).await.unwrap();
        let first = claimed.iter().find(|c| c.key.execution_id == "r1").unwrap();
        let failure = Completion {
            outcome: Outcome::Fail { error: json!({ "message": "no" }), compensations: vec![], error_run: None },
            ..done(first, "w", vec![])
        };
        assert_eq!(store.complete(failure, 110).await.unwrap().finished[0].1, ExecutionStatus::Failed);

        let counts = store.run_counts(DEFAULT_TENANT, None).await.unwrap();
        assert_eq!(counts.len(), 2, "{counts:?}");
        assert_eq!(counts["wf"], RunCounts { total: 2, failed: 1 });
        assert_eq!(counts["other"], RunCounts { total: 1, failed: 0 });
        let one = store.run_counts(DEFAULT_TENANT, Some("other")).await.unwrap();
        assert_eq!(one.into_iter().collect::<Vec<_>>(), [("other".to_owned(), RunCounts { total: 1, failed: 0 })]);
        assert!(store.run_counts("another-tenant", None).await.unwrap().is_empty());
    }
}
