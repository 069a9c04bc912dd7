//! Snapshot tests: each n8n export in `examples/n8n/` and its conversion
//! (`<case>.yaml`) and report (`<case>.report.txt`), reviewed as text. Set
//! `UPDATE_SNAPSHOTS=1` to rewrite them.

use std::path::{Path, PathBuf};

fn check(path: &Path, actual: &str) -> Result<(), String> {
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(path, actual).unwrap();
        return Ok(());
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected == actual {
        Ok(())
    } else {
        Err(format!(
            "{} differs (UPDATE_SNAPSHOTS=1 rewrites it):\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        ))
    }
}

#[test]
fn every_example_converts_to_its_snapshot() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/n8n");
    let mut failures = Vec::new();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let Some(case) = name.strip_suffix(".json") else {
            continue;
        };
        if case.ends_with(".expected") {
            continue;
        }
        seen += 1;
        let imported = n8n_work_import::import_n8n(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        let yaml: String = imported
            .iter()
            .map(|i| n8n_work_import::workflow_yaml(&i.workflow))
            .collect();
        // The YAML reads back as the same workflow.
        let again = n8n_work_model::Workflow::from_yaml(&yaml)
            .unwrap_or_else(|e| panic!("{case}: {e}\n{yaml}"));
        assert_eq!(again.nodes, imported[0].workflow.nodes, "{case}");
        let report: String = imported.iter().map(|i| i.report.to_string()).collect();
        for (suffix, text) in [("yaml", &yaml), ("report.txt", &report)] {
            if let Err(e) = check(&dir.join(format!("{case}.{suffix}")), text) {
                failures.push(e);
            }
        }
    }
    assert!(seen > 0);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
