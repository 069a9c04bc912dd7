//! Expressions that tried to take the process down (issue 18, item 3):
//! each must end with a clear error or a plain answer, in bounded time,
//! without aborting the process.

use n8n_work_expr::{Evaluator, ExprContext, ExprError, Limits, Template};
use serde_json::{Value, json};

fn eval(src: &str) -> Result<Value, ExprError> {
    let mut ev = Evaluator::new(Limits::default()).unwrap();
    ev.eval(&Template::parse(src).unwrap(), &ExprContext::default())
}

fn refused(src: &str) -> String {
    match eval(src) {
        Ok(v) => panic!("{src} gave {v}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn catastrophic_backtracking_patterns_answer() {
    // The pattern runs on automata, not by backtracking: the answer is plain.
    assert_eq!(
        eval("{{ /^(a+)+$/.test('a'.repeat(40) + 'b') }}").unwrap(),
        json!(false)
    );
    assert_eq!(
        eval("{{ ('a'.repeat(5000) + 'b').replace(/(a|aa)+$/g, '') }}").unwrap(),
        json!("a".repeat(5000) + "b")
    );
}

#[test]
fn backtracking_patterns_stop_at_their_step_limit() {
    // Backreferences need backtracking: its steps are counted.
    let e = refused("{{ /^(a+)+\\1$/.test('a'.repeat(40) + 'b') }}");
    assert!(e.contains("regular expression backtracking"), "{e}");
    assert_eq!(
        eval("{{ /(?=(a|aa)+c)/.test('a'.repeat(60)) }}").unwrap(),
        json!(false)
    );
    // The stop cannot be caught and retried.
    let e = refused(
        "{{ (() => { for (;;) { try { return /^(a|a)+\\1b$/.test('a'.repeat(40) + 'c'); } catch (x) {} } })() }}",
    );
    assert!(e.contains("regular expression backtracking"), "{e}");
}

#[test]
fn regular_expressions_behave_as_in_javascript() {
    let cases = [
        (
            "{{ 'a1b22c333'.match(/\\d+/g) }}",
            json!(["1", "22", "333"]),
        ),
        (
            "{{ 'x-y_z'.replace(/[-_](\\w)/g, (m, c) => c.toUpperCase()) }}",
            json!("xYZ"),
        ),
        ("{{ 'a, b,c'.split(/\\s*,\\s*/) }}", json!(["a", "b", "c"])),
        (
            "{{ '2024-05-06'.replace(/(?<y>\\d+)-(\\d+)-(\\d+)/, '$3.$2.$<y>') }}",
            json!("06.05.2024"),
        ),
        ("{{ /(?<k>\\w+)=(\\w+)/.exec('a=b').groups.k }}", json!("a")),
        (
            "{{ [...'a1b2'.matchAll(/[a-z](\\d)/g)].map(m => m[1] + '@' + m.index) }}",
            json!(["1@0", "2@2"]),
        ),
        ("{{ 'éa'.search(/a/) }}", json!(1)),
        ("{{ '😀x'.match(/x/).index }}", json!(2)),
        ("{{ /a.c/.test('a\\nc') }}", json!(false)),
        ("{{ /a.c/s.test('a\\nc') }}", json!(true)),
        ("{{ /^b/m.test('a\\nb') }}", json!(true)),
        ("{{ /HELLO/i.test('hello') }}", json!(true)),
        ("{{ /\\w/.test('é') }}", json!(false)),
        (
            "{{ (() => { const r = /a/y; r.lastIndex = 1; return r.test('ba'); })() }}",
            json!(true),
        ),
        (
            "{{ (() => { const r = /a/y; return r.test('ba'); })() }}",
            json!(false),
        ),
        ("{{ 'a/b'.split(/\\//) }}", json!(["a", "b"])),
        ("{{ (1234567.891).format() }}", json!("1,234,567.891")),
        ("{{ 'aaa'.replace(/a*?/g, '-') }}", json!("-a-a-a-")),
        ("{{ /(a)|(b)/.exec('b')[1] === undefined }}", json!(true)),
    ];
    for (src, want) in cases {
        assert_eq!(eval(src).unwrap(), want, "{src}");
    }
}

#[test]
fn huge_joins_are_refused_before_they_allocate() {
    let e = refused("{{ Array(2000).fill('x'.repeat(8e6)).join('').length }}");
    assert!(e.contains("longer than"), "{e}");
    let e = refused("{{ String(Array(2000).fill('x'.repeat(8e6))).length }}");
    assert!(e.contains("longer than"), "{e}");
}

#[test]
fn huge_concatenations_are_refused_before_they_allocate() {
    let e = refused("{{ ''.concat(...Array(2000).fill('x'.repeat(8e6))).length }}");
    assert!(e.contains("longer than"), "{e}");
    let e = refused("{{ 'a'.repeat(1e4).replaceAll('a', 'x'.repeat(8e6)).length }}");
    assert!(e.contains("longer than"), "{e}");
    let e = refused("{{ 'a'.repeat(1e5).replace(/a/g, '$`').length }}");
    assert!(e.contains("longer than"), "{e}");
    let e = refused("{{ 'a'.repeat(1e5).replaceAll('a', () => 'x'.repeat(1e6)).length }}");
    assert!(e.contains("longer than"), "{e}");
    let e = refused("{{ JSON.stringify(Array(2000).fill('x'.repeat(8e6))).length }}");
    assert!(
        e.contains("larger than") || e.contains("longer than"),
        "{e}"
    );
}

#[test]
fn ordinary_string_building_still_works() {
    let cases = [
        (
            "{{ ['a', null, 'b', undefined, 1].join('-') }}",
            json!("a--b--1"),
        ),
        ("{{ [1, [2, 3]].toString() }}", json!("1,2,3")),
        ("{{ 'a'.concat('b', 1, null) }}", json!("ab1null")),
        ("{{ 'a-b-c'.replaceAll('-', '$&$&') }}", json!("a--b--c")),
        ("{{ 'abc'.replace('b', \"[$`|$']\") }}", json!("a[a|c]c")),
        ("{{ 'abc'.replace(/(b)/, '<$1>') }}", json!("a<b>c")),
        (
            "{{ JSON.stringify({ a: [1, 'x'], b: undefined }) }}",
            json!("{\"a\":[1,\"x\"]}"),
        ),
        (
            "{{ JSON.stringify({ a: 1 }, null, 2) }}",
            json!("{\n  \"a\": 1\n}"),
        ),
    ];
    for (src, want) in cases {
        assert_eq!(eval(src).unwrap(), want, "{src}");
    }
}
