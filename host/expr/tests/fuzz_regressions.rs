//! Inputs the `expression` fuzz target (`fuzz/`) stopped on, kept in
//! `fuzz/regressions/expression/` and replayed here on stable: each must
//! give a value or an error on an evaluator that is then reused, never a
//! panic, an abort or a hang.

use n8n_work_expr::{Evaluator, ExprContext, Limits, Template};

#[test]
fn every_kept_fuzz_input_evaluates_to_a_value_or_an_error() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/expression");
    // As the fuzz target: one evaluator for every input.
    let mut evaluator = Evaluator::new(Limits::default()).unwrap();
    let context = ExprContext {
        json: serde_json::json!({ "a": 1, "s": "hello", "list": [1, 2, 3], "o": { "k": "v" } }),
        ..Default::default()
    };
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        if let Ok(text) = std::str::from_utf8(&bytes)
            && let Ok(template) = Template::parse(text)
        {
            let _ = evaluator.eval(&template, &context);
        }
        replayed += 1;
    }
    assert!(replayed > 0, "no inputs in {}", dir.display());
    // The evaluator still answers after all of them.
    let template = Template::parse("{{ $json.s + $json.a }}").unwrap();
    assert_eq!(
        evaluator.eval(&template, &context).unwrap(),
        serde_json::json!("hello1")
    );
}
