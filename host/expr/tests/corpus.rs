//! The expression corpus: 547 n8n expressions (297 of them Luxon dates,
//! durations, zones and n8n's date extensions) with the value n8n 1.119.2
//! gave each (`tests/n8n-compat/expressions.expected.json`, recorded by
//! `tests/n8n-compat/record.sh`). Each must give the same JSON here, except
//! the differences listed below, which must still differ (so the list
//! shrinks as they are fixed).

use std::collections::BTreeMap;

use n8n_work_expr::{Evaluator, ExprContext, Limits, Template, WorkflowInfo};
use serde_json::Value;

/// Expressions whose n8n answer is not reproduced yet, and why.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "$json.name.toKebabCase()",
        "n8n 1.119.2 gives `undefined` here; n8n-work gives the kebab-cased text",
    ),
    (
        "$json.snake.toCamelCase()",
        "n8n 1.119.2 gives `undefined` here; n8n-work gives the camel-cased text",
    ),
    (
        "$json.name.toCamelCase()",
        "n8n 1.119.2 gives `undefined` here; n8n-work gives the camel-cased text",
    ),
    (
        "'hello'.hash('md5')",
        "hashing is not in the expression sandbox yet",
    ),
    (
        "$json.url.parseJson === undefined",
        "n8n reaches its extensions only through calls; here they are methods, so the property exists",
    ),
    (
        "$json.tags.smartJoin === undefined",
        "as above: the extension is a method here",
    ),
    (
        "[[1, 2], [3]].merge === undefined",
        "as above: the extension is a method here",
    ),
    (
        "$json.people.sum === undefined",
        "as above: the extension is a method here",
    ),
];

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn expressions_give_the_values_n8n_gave() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/n8n-compat/expressions.expected.json"
    );
    let corpus: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let item = corpus["item"].clone();
    let context = ExprContext {
        json: item.clone(),
        input_items: vec![item.clone()],
        nodes: BTreeMap::from([("Items".to_owned(), vec![item])]),
        workflow: WorkflowInfo {
            id: "exprcorpusxxxxxx".into(),
            name: "expression-corpus".into(),
        },
        now_millis: 1_800_000_000_000,
        ..ExprContext::default()
    };
    let mut evaluator = Evaluator::new(Limits::default()).unwrap();
    let cases = corpus["cases"].as_array().unwrap();
    assert!(
        cases.len() >= 540,
        "the corpus has {} expressions",
        cases.len()
    );
    let mut differ = Vec::new();
    for case in cases {
        let expression = case["expression"].as_str().unwrap();
        let template = Template::parse(&format!("{{{{ {expression} }}}}")).unwrap();
        let got = evaluator.eval(&template, &context);
        let agrees = match (case.get("error"), &got) {
            (Some(_), Err(_)) => true,
            (None, Ok(value)) => same(value, &case["value"]),
            _ => false,
        };
        if !agrees {
            differ.push((
                expression.to_owned(),
                format!(
                    "n8n: {} | here: {got:?}",
                    case.get("value")
                        .or(case.get("error"))
                        .unwrap_or(&Value::Null)
                ),
            ));
        }
    }
    let known: Vec<&str> = KNOWN_DIFFERENCES.iter().map(|(e, _)| *e).collect();
    let unexpected: Vec<String> = differ
        .iter()
        .filter(|(e, _)| !known.contains(&e.as_str()))
        .map(|(e, why)| format!("{e}\n    {why}"))
        .collect();
    let fixed: Vec<&str> = known
        .iter()
        .filter(|k| !differ.iter().any(|(e, _)| e == *k))
        .copied()
        .collect();
    assert!(
        unexpected.is_empty() && fixed.is_empty(),
        "{} of {} expressions differ from n8n:\n{}\nnow agree (remove from KNOWN_DIFFERENCES): {fixed:?}",
        unexpected.len(),
        cases.len(),
        unexpected.join("\n")
    );
}
