//! Real evaluations: n8n idioms, errors with positions, hostile inputs.

use std::time::{Duration, Instant};

use n8n_work_expr::{Evaluator, ExprContext, ExprError, Limits, Template, WorkflowInfo};
use proptest::prelude::*;
use serde_json::{Value, json};

fn ctx() -> ExprContext {
    let mut c = ExprContext {
        json: json!({ "name": "ada lovelace", "a": 41, "body": { "items": [{ "id": 1 }, { "id": 2 }] }, "email": "Contact: ada@example.com." }),
        input_items: vec![json!({ "n": 1 }), json!({ "n": 2 }), json!({ "n": 3 })],
        item_index: 1,
        execution_id: "exec-1".into(),
        workflow: WorkflowInfo {
            id: "wf-1".into(),
            name: "Leads".into(),
        },
        now_millis: 1_700_000_000_000, // 2023-11-14T22:13:20Z
        ..Default::default()
    };
    c.nodes.insert(
        "Webhook".into(),
        vec![
            json!({ "body": { "name": "Ada" } }),
            json!({ "body": { "name": "Bob" } }),
        ],
    );
    c.vars.insert("region".into(), "eu".into());
    c
}

fn eval(src: &str) -> Result<Value, ExprError> {
    let mut ev = Evaluator::new(Limits::default()).unwrap();
    ev.eval(&Template::parse(src).unwrap(), &ctx())
}

#[test]
fn n8n_idioms_evaluate() {
    let cases: &[(&str, Value)] = &[
        ("{{ $json.a + 1 }}", json!(42)),
        ("hello {{ $json.name }}!", json!("hello ada lovelace!")),
        (
            "{{ $json.body.items.map(i => i.id).join(\",\") }}",
            json!("1,2"),
        ),
        ("{{ `n=${$json.a}` }}", json!("n=41")),
        ("{{ $json.a > 40 ? 'big' : 'small' }}", json!("big")),
        ("{{ $json.missing?.deep ?? 'none' }}", json!("none")),
        (
            "{{ $json.body }}",
            json!({ "items": [{ "id": 1 }, { "id": 2 }] }),
        ),
        ("{{ $json.name.toTitleCase() }}", json!("Ada Lovelace")),
        ("{{ 'Hello World'.toSnakeCase() }}", json!("hello_world")),
        ("{{ ''.isEmpty() }}", json!(true)),
        ("{{ $json.email.extractEmail() }}", json!("ada@example.com")),
        ("{{ [1, 1, 2].unique() }}", json!([1, 2])),
        ("{{ $json.body.items.pluck('id') }}", json!([1, 2])),
        ("{{ [3, 4].first() + [3, 4].last() }}", json!(7)),
        ("{{ [1, 2, 3].sum() }}", json!(6)),
        ("{{ [].isEmpty() }}", json!(true)),
        (
            "{{ [0, null, '', 'a', undefined].compact() }}",
            json!([0, "a"]),
        ),
        ("{{ (1.256).round(2) }}", json!(1.26)),
        ("{{ (1.5).floor() + (1.5).ceil() }}", json!(3)),
        ("{{ (0).toBoolean() }}", json!(false)),
        ("{{ $input.all().length }}", json!(3)),
        ("{{ $input.first().json.n }}", json!(1)),
        ("{{ $input.last().json.n }}", json!(3)),
        ("{{ $input.item.json.n }}", json!(2)),
        ("{{ $itemIndex }}", json!(1)),
        ("{{ $('Webhook').item.json.body.name }}", json!("Bob")),
        ("{{ $('Webhook').first().json.body.name }}", json!("Ada")),
        ("{{ $('Webhook').all().length }}", json!(2)),
        ("{{ $node['Webhook'].json.body.name }}", json!("Bob")),
        ("{{ $execution.id }}", json!("exec-1")),
        ("{{ $workflow.name }}", json!("Leads")),
        ("{{ $vars.region }}", json!("eu")),
        ("{{ $now.toISO() }}", json!("2023-11-14T22:13:20.000Z")),
        ("{{ $now.toFormat('yyyy-MM-dd') }}", json!("2023-11-14")),
        (
            "{{ $now.plus({ days: 1 }).toFormat('yyyy-MM-dd HH:mm') }}",
            json!("2023-11-15 22:13"),
        ),
        (
            "{{ $now.minus({ months: 1 }).toISODate() }}",
            json!("2023-10-14"),
        ),
        (
            "{{ DateTime.now().toMillis() }}",
            json!(1_700_000_000_000_i64),
        ),
        (
            // Luxon keeps the day within the month: no 29 February in 2025.
            "{{ DateTime.fromISO('2024-02-29T10:00:00Z').plus({ years: 1 }).toISODate() }}",
            json!("2025-02-28"),
        ),
        ("{{ $now }}", json!("2023-11-14T22:13:20.000Z")),
        ("{{ [3, 1, 2].sort((a, b) => a - b) }}", json!([1, 2, 3])),
        (
            "{{ (() => { let s = 0; for (const x of [1, 2]) s += x; return s; })() }}",
            json!(3),
        ),
        ("plain text", json!("plain text")),
    ];
    let mut ev = Evaluator::new(Limits::default()).unwrap();
    let data = ctx();
    for (src, want) in cases {
        let got = ev
            .eval(&Template::parse(src).unwrap(), &data)
            .unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(&got, want, "{src}");
    }
}

#[test]
fn syntax_error_quotes_expression_and_position() {
    let err = eval("{{ $json.a +\n  ) }}").unwrap_err();
    let ExprError::Syntax { expr, line, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(expr, "$json.a +\n  )");
    assert_eq!(*line, 2, "{err}");
}

#[test]
fn runtime_error_quotes_expression() {
    let err = eval("{{ $json.missing.deep }}").unwrap_err();
    assert!(matches!(err, ExprError::Runtime { .. }), "{err}");
    assert!(err.to_string().contains("$json.missing.deep"), "{err}");
}

#[test]
fn dates_refuse_what_they_cannot_answer_by_name() {
    let err = eval("{{ $now.setLocale('de').toFormat('MMMM') }}").unwrap_err();
    assert!(
        err.to_string().contains(
            "setLocale: locale `de` is not available in expressions; leave it out for en-US"
        ),
        "{err}"
    );
    let err = eval("{{ $now.plus({ fortnights: 1 }) }}").unwrap_err();
    assert!(err.to_string().contains("Invalid unit fortnights"), "{err}");
    let err = eval("{{ $now.toLocaleString({ dayPeriod: 'short' }) }}").unwrap_err();
    assert!(
        err.to_string()
            .contains("toLocaleString: option `dayPeriod` is not available in expressions"),
        "{err}"
    );
    // An unknown zone is an invalid DateTime, as in Luxon, not an error.
    assert_eq!(
        eval("{{ $now.setZone('Mars/Olympus').invalidReason }}").unwrap(),
        json!("unsupported zone")
    );
}

#[test]
fn zone_lookups_are_not_left_on_the_global_object() {
    assert_eq!(
        eval("{{ [typeof __zoneOffset, typeof __zoneName] }}").unwrap(),
        json!(["undefined", "undefined"])
    );
    assert_eq!(
        eval("{{ $now.setZone('Australia/Sydney').toISO() }}").unwrap(),
        json!("2023-11-15T09:13:20.000+11:00")
    );
}

/// Each hostile input must fail (or give nothing) quickly, without crashing.
fn refused(src: &str) -> String {
    let start = Instant::now();
    let result = eval(src);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(20), "{src} took {took:?}");
    match result {
        Ok(v) => {
            assert!(v.is_null(), "{src} gave {v}");
            "undefined".into()
        }
        Err(e) => e.to_string(),
    }
}

#[test]
fn endless_loops_are_stopped() {
    let e = refused("{{ (() => { while (true) {} })() }}");
    assert!(e.contains("loop iteration"), "{e}");
    let e = refused("{{ (() => { for (;;) { try { while (true) {} } catch (e) {} } })() }}");
    assert!(e.contains("limit"), "{e}");
}

#[test]
fn exponential_calls_hit_the_instruction_budget() {
    let e = refused("{{ (function f(n) { return n ? f(n - 1) + f(n - 1) : 1; })(40) }}");
    assert!(e.contains("instruction"), "{e}");
    // Callbacks of array methods run under the same budget.
    let e =
        refused("{{ [1].map(() => (function f(n) { return n ? f(n - 1) + f(n - 1) : 1; })(40)) }}");
    assert!(e.contains("instruction"), "{e}");
}

#[test]
fn engine_is_usable_after_a_budget_stop() {
    let mut ev = Evaluator::new(Limits::default()).unwrap();
    let data = ctx();
    let bad = Template::parse("{{ (function f(n) { return n ? f(n - 1) + f(n - 1) : 1; })(40) }}")
        .unwrap();
    assert!(ev.eval(&bad, &data).is_err());
    assert_eq!(
        ev.eval(&Template::parse("{{ $json.a + 1 }}").unwrap(), &data)
            .unwrap(),
        json!(42)
    );
}

#[test]
fn deep_recursion_is_stopped() {
    let e = refused("{{ (function f() { return f(); })() }}");
    assert!(e.contains("limit"), "{e}");
}

#[test]
fn huge_strings_are_refused() {
    refused("{{ 'x'.repeat(1e9) }}");
    refused("{{ ''.padStart(1e9, 'x') }}");
    refused("{{ new Array(1e9).join('x') }}");
    refused("{{ Array.from({ length: 1e9 }) }}");
    let e = refused("{{ 'x'.repeat(9e6) }}");
    assert!(e.contains("longer than"), "{e}");
}

#[test]
fn deeply_nested_input_is_refused() {
    let mut v = json!(1);
    for _ in 0..1_000 {
        v = json!([v]);
    }
    let mut ev = Evaluator::new(Limits::default()).unwrap();
    let data = ExprContext {
        json: v,
        ..Default::default()
    };
    let err = ev
        .eval(&Template::parse("{{ 1 }}").unwrap(), &data)
        .unwrap_err();
    assert!(matches!(err, ExprError::InputTooDeep { .. }), "{err}");
}

#[test]
fn deeply_nested_output_is_refused() {
    let e =
        refused("{{ (() => { let v = 1; for (let i = 0; i < 1000; i++) v = [v]; return v; })() }}");
    assert!(e.contains("larger than"), "{e}");
}

#[test]
fn code_generation_and_host_escapes_are_refused() {
    for src in [
        "{{ ''.constructor.constructor('return process')() }}",
        "{{ (() => {}).constructor('return 1')() }}",
        "{{ Object.getPrototypeOf(async function () {}).constructor('return 1') }}",
        "{{ Function('return 1')() }}",
        "{{ eval('1') }}",
        "{{ globalThis.process }}",
        "{{ this.process }}",
        "{{ this }}",
        "{{ (function () { return this; })() }}",
        "{{ require('fs') }}",
        "{{ process.env }}",
        "{{ import('fs') }}",
        "{{ console.log(1) }}",
        "{{ [].map.constructor('return 1')() }}",
        "{{ $json.constructor.constructor('return 1')() }}",
    ] {
        refused(src);
    }
}

#[test]
fn prototype_pollution_does_not_reach_the_next_evaluation() {
    let mut ev = Evaluator::new(Limits::default()).unwrap();
    let data = ctx();
    let _ = ev.eval(
        &Template::parse("{{ (Object.prototype.polluted = 1, Array.prototype.map = null) }}")
            .unwrap(),
        &data,
    );
    let v = ev
        .eval(
            &Template::parse("{{ [({}).polluted, [1].map(x => x)] }}").unwrap(),
            &data,
        )
        .unwrap();
    assert_eq!(v, json!([null, [1]]));
}

#[test]
fn date_classes_cannot_be_changed_for_the_next_evaluation() {
    let mut ev = Evaluator::new(Limits::default()).unwrap();
    let data = ctx();
    for attack in [
        "{{ DateTime.prototype.toISO = () => 'x' }}",
        "{{ Object.getPrototypeOf($now.zone).offset = () => 600 }}",
        "{{ DateTime.DATE_SHORT.year = '2-digit' }}",
        "{{ Duration.fromObject = null }}",
    ] {
        let _ = ev.eval(&Template::parse(attack).unwrap(), &data);
    }
    let v = ev
        .eval(
            &Template::parse(
                "{{ [$now.toISO(), $now.toLocaleString(DateTime.DATE_SHORT), Duration.fromObject({ hours: 1 }).toISO()] }}",
            )
            .unwrap(),
            &data,
        )
        .unwrap();
    assert_eq!(v, json!(["2023-11-14T22:13:20.000Z", "11/14/2023", "PT1H"]));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn literal_templates_round_trip(s in "[^{}]*") {
        let t = Template::parse(&s).unwrap();
        prop_assert!(t.is_literal());
        let mut ev = Evaluator::new(Limits::default()).unwrap();
        prop_assert_eq!(ev.eval(&t, &ExprContext::default()).unwrap(), Value::String(s));
    }

    #[test]
    fn strings_pass_through_expressions(s in "\\PC{0,40}") {
        let data = ExprContext { json: json!({ "s": s }), ..Default::default() };
        let mut ev = Evaluator::new(Limits::default()).unwrap();
        prop_assert_eq!(ev.eval(&Template::parse("{{ $json.s }}").unwrap(), &data).unwrap(), Value::String(s));
    }
}
