//! The run journal's appends against SQLite and PostgreSQL.

use n8n_work_store::*;
use serde_json::json;

fn run(id: &str) -> JournalRun {
    JournalRun {
        tenant: DEFAULT_TENANT.into(),
        id: id.into(),
        workflow_id: "wf".into(),
        version: 1,
        status: ExecutionStatus::Running,
        sequential: false,
        next_seq: 2,
        error: None,
        result: None,
        response: None,
        created_at: 100,
        finished_at: None,
    }
}

fn step(run: &str, seq: i64, node: &str, status: StepStatus) -> JournalStep {
    JournalStep {
        seq,
        node_id: node.into(),
        iteration: 0,
        kind: StepKind::Node,
        status,
        attempt: i64::from(status == StepStatus::Done),
        idempotency_key: format!("{run}/{node}/0"),
        due_at: Some(100),
        lease_owner: None,
        lease_expires: None,
        inputs_expected: 1,
        done_order: None,
        error: None,
        usage: Usage::default(),
        created_at: 100,
        started_at: None,
        finished_at: None,
        input: json!({ "main": [{ "json": { "n": seq } }] }),
        output: None,
        state: None,
        logs: None,
    }
}

/// A run's first append: its trigger done, its next step held by `owner`
/// until `until`.
fn started(id: &str, owner: &str, until: i64) -> Append {
    let mut trigger = step(id, 1, "start", StepStatus::Done);
    trigger.output = Some(json!({ "main": [{ "json": { "n": 1 } }] }));
    trigger.done_order = Some(2);
    let mut held = step(id, 3, "call", StepStatus::Running);
    held.lease_owner = Some(owner.into());
    held.lease_expires = Some(until);
    let mut run = run(id);
    run.next_seq = 4;
    Append {
        run,
        first: true,
        steps: vec![trigger, held],
        node_state: vec![],
    }
}

n8n_work_store::both_backends! {
    async fn appends_of_many_runs_share_commits_and_read_back(store) {
        let before = store.stats();
        let appends = (0..32).map(|i| {
            let store = store.store.clone();
            tokio::spawn(async move { store.append(started(&format!("run-{i}"), "me", 1_000)).await })
        });
        for appended in futures::future::join_all(appends).await {
            assert_eq!(appended.unwrap().unwrap(), Appended::Recorded);
        }
        let after = store.stats();
        assert_eq!(after.writes - before.writes, 32);
        assert!(after.commits - before.commits < 32, "{before:?} → {after:?}");
        let row = store.execution(DEFAULT_TENANT, "run-7").await.unwrap();
        assert_eq!((row.status, row.created_at), (ExecutionStatus::Running, 100));
        let steps = store.steps(DEFAULT_TENANT, "run-7").await.unwrap();
        let shape: Vec<_> = steps.iter().map(|s| (s.seq, s.node_id.as_str(), s.status)).collect();
        assert_eq!(shape, [(1, "start", StepStatus::Done), (3, "call", StepStatus::Running)]);
        let payload = store.payload(DEFAULT_TENANT, "run-7", 1).await.unwrap();
        assert_eq!(payload.output, Some(json!({ "main": [{ "json": { "n": 1 } }] })));

        // A later append updates the rows in place; the run ends.
        let mut end = started("run-7", "me", 1_000);
        end.first = false;
        end.run.status = ExecutionStatus::Succeeded;
        end.run.finished_at = Some(200);
        end.run.result = Some(json!({ "main": [] }));
        end.steps.remove(0);
        end.steps[0].status = StepStatus::Done;
        end.steps[0].lease_owner = None;
        end.steps[0].output = Some(json!({ "main": [] }));
        assert_eq!(store.append(end).await.unwrap(), Appended::Recorded);
        let row = store.execution(DEFAULT_TENANT, "run-7").await.unwrap();
        assert_eq!((row.status, row.finished_at), (ExecutionStatus::Succeeded, Some(200)));
        let steps = store.steps(DEFAULT_TENANT, "run-7").await.unwrap();
        assert_eq!(steps.len(), 2);
        assert_eq!((steps[1].status, steps[1].lease_owner.as_deref()), (StepStatus::Done, None));
    }
}

n8n_work_store::both_backends! {
    async fn held_steps_go_to_a_worker_only_once_their_lease_lapses(store) {
        store.append(started("held", "gone", 1_000)).await.unwrap();
        assert!(store.claim("worker", 10, 500, 10_000).await.unwrap().is_empty());
        assert_eq!(store.reclaim(999, None).await.unwrap(), 0, "the lease holds");
        assert_eq!(store.reclaim(1_001, None).await.unwrap(), 1);
        let claimed = store.claim("worker", 10, 1_001, 10_000).await.unwrap();
        assert_eq!(claimed.len(), 1);
        let call = &claimed[0];
        assert_eq!((call.node_id.as_str(), call.attempt), ("call", 1));
        assert_eq!(call.idempotency_key, "held/call/0");
        assert_eq!(call.input, json!({ "main": [{ "json": { "n": 3 } }] }));
        // The worker goes on from the journal: the run ends with it.
        let applied = store
            .complete(
                Completion {
                    key: call.key.clone(),
                    owner: "worker".into(),
                    outcome: Outcome::Done {
                        outputs: json!({ "main": [{ "json": { "done": true } }] }),
                        successors: vec![],
                        response: None,
                        state: None,
                        node_state: None,
                    },
                    usage: Usage::default(),
                    logs: vec![],
                    claim: None,
                },
                1_002,
            )
            .await
            .unwrap();
        assert_eq!(applied.finished, vec![("held".to_owned(), ExecutionStatus::Succeeded)]);
        let row = store.execution(DEFAULT_TENANT, "held").await.unwrap();
        assert_eq!(row.output(), vec![json!({ "done": true })]);
    }
}

n8n_work_store::both_backends! {
    async fn an_append_to_a_cancelled_run_is_lost_and_writes_nothing(store) {
        store.append(started("cancelled", "me", 1_000)).await.unwrap();
        store.cancel(DEFAULT_TENANT, "cancelled", 150).await.unwrap();
        let mut late = started("cancelled", "me", 1_000);
        late.first = false;
        late.run.status = ExecutionStatus::Succeeded;
        late.steps[1].status = StepStatus::Done;
        assert_eq!(store.append(late).await.unwrap(), Appended::Lost);
        assert_eq!(
            store.execution(DEFAULT_TENANT, "cancelled").await.unwrap().status,
            ExecutionStatus::Cancelled
        );
        let steps = store.steps(DEFAULT_TENANT, "cancelled").await.unwrap();
        assert_ne!(steps[1].status, StepStatus::Done);
    }
}

n8n_work_store::both_backends! {
    async fn a_start_whose_id_exists_starts_nothing(store) {
        assert_eq!(store.append(started("once", "me", 1_000)).await.unwrap(), Appended::Recorded);
        let mut again = started("once", "other", 5_000);
        again.run.workflow_id = "another".into();
        assert_eq!(store.append(again).await.unwrap(), Appended::Lost);
        let row = store.execution(DEFAULT_TENANT, "once").await.unwrap();
        assert_eq!(row.workflow_id, "wf");
        let steps = store.steps(DEFAULT_TENANT, "once").await.unwrap();
        assert_eq!(steps[1].lease_owner.as_deref(), Some("me"));
    }
}
