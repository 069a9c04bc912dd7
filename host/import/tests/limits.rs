//! Exports that nest past what a workflow document may are refused with an
//! error that names the limit, not read (or dropped) recursively.

use n8n_work_import::{ImportError, import_n8n};
use n8n_work_model::DocumentLimit;

#[test]
fn deeply_nested_export_is_refused() {
    let n = 100_000;
    let text = format!(
        r#"{{"name": "deep", "nodes": [], "connections": {{}}, "x": {}{}}}"#,
        "[".repeat(n),
        "]".repeat(n)
    );
    let err = import_n8n(&text).unwrap_err();
    assert!(
        matches!(err, ImportError::TooLarge(DocumentLimit::Depth(_))),
        "{err:?}"
    );
    assert!(err.to_string().contains("levels"), "{err}");
}
