//! Documents that would expand past memory or nest past the stack are
//! refused with an error that names the limit.

use n8n_work_model::{DocumentLimit, Workflow};

/// Nine lines of nested anchors: 10⁹ values once every alias is expanded.
const BILLION_LAUGHS: &str = "\
a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]
";

#[test]
fn billion_laughs_yaml_is_refused() {
    let err = Workflow::from_yaml(BILLION_LAUGHS).unwrap_err();
    assert!(
        matches!(err.limit, Some(DocumentLimit::Values(_))),
        "{err:?}"
    );
    assert!(err.message.contains("values"), "{err}");
}

#[test]
fn long_strings_repeated_by_aliases_are_refused() {
    let big = "x".repeat(1 << 20);
    let mut text = format!("s: &s {big}\nl: [");
    text.push_str(&"*s, ".repeat(200));
    text.push_str("*s]\n");
    let err = Workflow::from_yaml(&text).unwrap_err();
    assert!(
        matches!(err.limit, Some(DocumentLimit::Bytes(_))),
        "{err:?}"
    );
}

#[test]
fn deeply_nested_yaml_is_refused() {
    let n = 100_000;
    let text = format!("name: {}{}", "[".repeat(n), "]".repeat(n));
    let err = Workflow::from_yaml(&text).unwrap_err();
    assert!(
        matches!(err.limit, Some(DocumentLimit::Depth(_))),
        "{err:?}"
    );
    assert!(err.message.contains("levels"), "{err}");
    let text = format!("name: a\nnodes:\n{}1\n", "- ".repeat(1000));
    let err = Workflow::from_yaml(&text).unwrap_err();
    assert!(
        matches!(err.limit, Some(DocumentLimit::Depth(_))),
        "{err:?}"
    );
}

#[test]
fn deeply_nested_json_is_refused() {
    let n = 100_000;
    let text = format!("{{\"name\": {}{}}}", "[".repeat(n), "]".repeat(n));
    let err = Workflow::from_json(&text).unwrap_err();
    assert!(
        matches!(err.limit, Some(DocumentLimit::Depth(_))),
        "{err:?}"
    );
    assert!(err.to_string().contains("levels"), "{err}");
}

#[test]
fn ordinary_aliases_still_expand() {
    let text = "name: a\nnodes:\n  - id: start\n    type: manual\n    params: &p {x: 1}\n  - id: next\n    type: manual\n    params: *p\nconnections:\n  - {from: start, to: next}\n";
    let workflow = Workflow::from_yaml(text).unwrap();
    assert_eq!(workflow.nodes[1].params, workflow.nodes[0].params);
}
