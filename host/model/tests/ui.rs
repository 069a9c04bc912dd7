//! Snapshot tests: every `tests/ui/*.yaml` either compiles to the plan in
//! its `.json` or fails with exactly the text in its `.err`.
//! Regenerate with `N8N_WORK_BLESS=1 cargo test -p n8n-work-model`.

use std::path::{Path, PathBuf};

use n8n_work_model::{ComponentSpec, NodeCatalog, Plan, Workflow, json_schema};

const BLESS: &str = "N8N_WORK_BLESS";

/// Two components shaped like the built-ins, and grants read like the
/// runtime's (scheme, host, optional `*.` label, port).
struct TestCatalog;

impl NodeCatalog for TestCatalog {
    fn spec(&self, node_type: &str) -> Option<ComponentSpec> {
        match node_type {
            "builtin:slack" => Some(ComponentSpec {
                outputs: vec!["main".into()],
                credentials: vec![("token".into(), true)],
                egress: vec![("https://slack.com".into(), "posts messages".into())],
            }),
            "builtin:http" => Some(ComponentSpec {
                outputs: vec!["main".into()],
                credentials: vec![("auth".into(), false)],
                egress: vec![("param:url".into(), "calls the URL it is given".into())],
            }),
            _ => None,
        }
    }

    fn parse_grant(&self, grant: &str) -> Result<String, String> {
        let fail = |why: &str| Err(format!("egress grant `{grant}`: {why}"));
        let Some((scheme, rest)) = grant.split_once("://") else {
            return fail("the scheme is missing");
        };
        if scheme != "http" && scheme != "https" {
            return fail("only http and https can be granted");
        }
        if rest.trim_end_matches('/').contains('/') {
            return fail("a grant is an origin; paths are not allowed");
        }
        Ok(grant.trim_end_matches('/').to_ascii_lowercase())
    }

    fn grants_allow(&self, grants: &[&str], scheme: &str, host: &str, port: u16) -> bool {
        grants.iter().any(|g| {
            let url = url::Url::parse(&g.replace("*.", "x.")).unwrap();
            let wildcard = g.contains("*.");
            let gh = url.host_str().unwrap_or_default();
            let host_ok = if wildcard {
                host.ends_with(&gh[1..])
            } else {
                host == gh
            };
            url.scheme() == scheme && url.port_or_known_default() == Some(port) && host_ok
        })
    }
}

fn outcome(text: &str) -> (&'static str, String) {
    let workflow = match Workflow::from_yaml(text) {
        Ok(w) => w,
        Err(e) => return ("err", format!("{e}\n")),
    };
    match Plan::compile(&workflow, &TestCatalog) {
        Ok(plan) => ("json", serde_json::to_string_pretty(&plan).unwrap() + "\n"),
        Err(errors) => (
            "err",
            errors.iter().map(|e| format!("{e}\n")).collect::<String>(),
        ),
    }
}

fn check_snapshot(path: &Path, actual: &str) -> Result<(), String> {
    if std::env::var_os(BLESS).is_some() {
        std::fs::write(path, actual).unwrap();
        return Ok(());
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected == actual {
        Ok(())
    } else {
        Err(format!(
            "{} is stale.\n--- expected\n{expected}--- actual\n{actual}run `{BLESS}=1 cargo test -p n8n-work-model` and review the diff",
            path.display()
        ))
    }
}

#[test]
fn ui_snapshots_match() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 8, "ui cases missing in {}", dir.display());
    let mut failures = Vec::new();
    for case in cases {
        let text = std::fs::read_to_string(&case).unwrap();
        let (ext, actual) = outcome(&text);
        let other = if ext == "err" { "json" } else { "err" };
        if case.with_extension(other).exists() && std::env::var_os(BLESS).is_none() {
            failures.push(format!(
                "{} now gives a .{ext}, but a .{other} is checked in",
                case.display()
            ));
            continue;
        }
        if let Err(e) = check_snapshot(&case.with_extension(ext), &actual) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn checked_in_schema_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/workflow.schema.json");
    let actual = serde_json::to_string_pretty(&json_schema()).unwrap() + "\n";
    if let Err(e) = check_snapshot(&path, &actual) {
        panic!("{e}");
    }
}

#[test]
fn json_and_yaml_read_the_same_workflow() {
    let yaml = "name: a\nnodes:\n  - id: start\n    type: manual\n";
    let json = r#"{"name": "a", "nodes": [{"id": "start", "type": "manual"}]}"#;
    let a = Workflow::from_yaml(yaml).unwrap();
    let b = Workflow::from_json(json).unwrap();
    assert_eq!(a.nodes, b.nodes);
}

#[test]
fn json_errors_point_at_the_line() {
    let json = "{\n  \"name\": \"a\",\n  \"nodes\": [\n    {\"id\": \"x\", \"type\": 3}\n  ]\n}";
    let err = Workflow::from_json(json).unwrap_err();
    assert_eq!(err.path.as_deref(), Some("nodes[0].type"));
    assert_eq!(err.location.map(|l| l.line), Some(4));
}
