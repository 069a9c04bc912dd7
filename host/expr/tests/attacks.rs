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

/// Evaluates `src` on `ev`, then shows the same evaluator still answers.
fn refused_then_recovers(ev: &mut Evaluator, src: &str) -> ExprError {
    let e = match ev.eval(&Template::parse(src).unwrap(), &ExprContext::default()) {
        Ok(v) => panic!("{src} gave {v}"),
        Err(e) => e,
    };
    let after = ev
        .eval(
            &Template::parse("{{ 'a' + 'b' + [...'cd'].length }}").unwrap(),
            &ExprContext::default(),
        )
        .unwrap();
    assert_eq!(after, json!("ab2"), "after {src}");
    e
}

#[test]
fn doubling_a_string_with_plus_templates_or_plus_equals_is_refused_before_it_allocates() {
    // Each doubles a megabyte string thirty times: a petabyte, asked for in
    // one allocation, which boa would meet by aborting the process.
    let mut ev = Evaluator::new(Limits::default()).unwrap();
    for src in [
        "{{ (()=>{let s='x'.repeat(1e6); for(let i=0;i<30;i++) s=s+s; return s.length})() }}",
        "{{ (()=>{let s='x'.repeat(1e6); for(let i=0;i<30;i++) s+=s; return s.length})() }}",
        "{{ (()=>{let s='x'.repeat(1e6); for(let i=0;i<30;i++) s=`${s}${s}`; return s.length})() }}",
        "{{ (()=>{let s='é'.repeat(1e6); for(let i=0;i<30;i++) s=s+1+s; return s.length})() }}",
        "{{ (()=>{let s=['x'.repeat(1e6)]; for(let i=0;i<30;i++) s=[String(s)+s]; return s.length})() }}",
    ] {
        let e = refused_then_recovers(&mut ev, src);
        assert!(matches!(e, ExprError::OutputTooLarge { .. }), "{src}: {e}");
        assert!(e.to_string().contains("larger than the limit"), "{e}");
    }
    // Up to the limit, strings build as before.
    assert_eq!(
        eval("{{ (()=>{let s='x'.repeat(1e6); for(let i=0;i<3;i++) s=s+s; return s.length})() }}")
            .unwrap(),
        json!(8_000_000)
    );
}

#[test]
fn doubling_an_array_by_spreading_or_concat_is_refused() {
    // Forty doublings of a thousand elements: a petabyte of array. (A
    // smaller element budget than the default's million keeps a debug
    // build quick; the default refuses the same way.)
    let mut ev = Evaluator::new(Limits {
        elements: 20_000,
        ..Limits::default()
    })
    .unwrap();
    for src in [
        "{{ (()=>{let a=Array(1e3).fill(0); for(let i=0;i<40;i++) a=[...a,...a]; return a.length})() }}",
        "{{ (()=>{let a=Array(1e3).fill(0); for(let i=0;i<40;i++) a.push(...a); return a.length})() }}",
        "{{ (()=>{let a=Array(1e3).fill(0); for(let i=0;i<40;i++) a=a.concat(a); return a.length})() }}",
        "{{ (()=>{let a=[...'x'.repeat(1e3)]; for(let i=0;i<40;i++) a=[...a,...a]; return a.length})() }}",
        "{{ [...'x'.repeat(8e6)].length }}",
    ] {
        let e = refused_then_recovers(&mut ev, src).to_string();
        assert!(
            e.contains("elements handed out in one expression"),
            "{src}: {e}"
        );
    }
    assert_eq!(
        eval("{{ [...[1, 2], ...'ab', ...new Set([3])].concat([4], 5) }}").unwrap(),
        json!([1, 2, "a", "b", 3, 4, 5])
    );
}

/// `n` of `open`, then `inner`, then `n` of `close`.
fn nested(open: &str, inner: &str, close: &str, n: usize) -> String {
    format!("{{{{ {}{inner}{} }}}}", open.repeat(n), close.repeat(n))
}

#[test]
fn expressions_nested_past_the_parsers_stack_are_refused_before_parsing() {
    // Each would recurse once per level in boa's parser or compiler and
    // overflow the thread's stack, which aborts the process.
    // Five thousand levels, all within the source limit.
    let deep = 5_000;
    for src in [
        nested("(", "1", ")", deep),
        nested("[", "1", "]", deep),
        nested("{a:", "1", "}", deep),
        nested("!", "1", "", deep),
        nested("typeof ", "1", "", deep / 2),
        nested("x=>", "1", "", deep),
        nested("`${", "1", "}`", deep),
        nested("", "1", "+1", deep),
        nested("", "1", ",1", deep),
        nested("1?", "1", ":1", deep),
    ] {
        let e = refused(&src);
        assert!(e.contains("split it into smaller expressions"), "{e}");
    }
    let e = refused(&format!("{{{{ '{}' }}}}", "x".repeat(40_000)));
    assert!(
        e.contains("its source (in bytes) is more than the limit of 32768"),
        "{e}"
    );
}

#[test]
fn expressions_just_inside_the_nesting_limit_evaluate_on_a_small_stack() {
    // The limit must leave room: the deepest allowed expression of each kind
    // evaluates on a thread with the runtime's default 2 MiB stack.
    let limit = Limits::default().nesting;
    let n = limit - 3;
    let cases = [
        (nested("(", "1", ")", n), json!(1)),
        (
            format!("{{{{ {}1{}.length }}}}", "[".repeat(n), "]".repeat(n)),
            json!(1),
        ),
        (nested("!", "1", "", n - n % 2), json!(true)),
        (nested("", "1", "+1", n), json!(n + 1)),
        (nested("", "1", ",1", n), json!(1)),
        (nested("1?", "1", ":1", n / 2), json!(1)),
        (nested("`${", "1", "}`", n / 2), json!("1")),
        (nested("(x=>", "1", ")(0)", n / 3), json!(1)),
    ];
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let mut ev = Evaluator::new(Limits::default()).unwrap();
            for (src, want) in cases {
                let got = ev.eval(&Template::parse(&src).unwrap(), &ExprContext::default());
                assert_eq!(got, Ok(want), "{src}");
            }
        })
        .unwrap();
    handle.join().unwrap();
}

#[test]
fn a_deadline_stops_loops_and_regular_expression_matching() {
    let mut ev = Evaluator::new(Limits::default()).unwrap();
    ev.set_deadline(Some(0));
    for src in [
        "{{ (()=>{let n=0; for(;;) n++; })() }}",
        "{{ /a/.test('a') }}",
        "{{ 'aaa'.replace(/a/g, 'b') }}",
        // A few instructions, all the work native: no slice of the
        // instruction budget ends before the strings are built.
        "{{ 'x'.repeat(1e6).replaceAll('x', 'yy').length }}",
        "{{ (()=>{let s='x'.repeat(1e6), n=0; for(let i=0;i<300;i++) n+=s.replaceAll('x','y').length; return n})() }}",
        "{{ 'x'.repeat(1e6).split('').length }}",
        // Quadratic inside one native call (about a minute in a debug build).
        "{{ 'a'.repeat(1e5).replaceAll('a', () => 'x').length }}",
    ] {
        let e = ev
            .eval(&Template::parse(src).unwrap(), &ExprContext::default())
            .unwrap_err();
        assert!(
            matches!(e, ExprError::Deadline { millis: 0, .. }),
            "{src}: {e}"
        );
        assert!(
            e.to_string().contains("still running at its deadline"),
            "{e}"
        );
    }
    ev.set_deadline(None);
    assert_eq!(
        ev.eval(
            &Template::parse("{{ /a/.test('a') }}").unwrap(),
            &ExprContext::default()
        ),
        Ok(json!(true))
    );
}

#[test]
fn every_expression_gets_its_own_wall_clock_limit() {
    let mut ev = Evaluator::new(Limits {
        instructions: u64::MAX,
        loop_iterations: u64::MAX,
        millis: Some(50),
        ..Limits::default()
    })
    .unwrap();
    let e = ev
        .eval(
            &Template::parse("{{ (()=>{let n=0; for(;;) n++; })() }}").unwrap(),
            &ExprContext::default(),
        )
        .unwrap_err();
    assert!(matches!(e, ExprError::Deadline { millis: 50, .. }), "{e}");
    // Native string work, a few instructions per call.
    let e = ev
        .eval(
            &Template::parse("{{ (()=>{ const s='x'.repeat(1e6); let n=0; for(let i=0;i<1e5;i++) n+=s.replaceAll('x','yy').length; return n })() }}").unwrap(),
            &ExprContext::default(),
        )
        .unwrap_err();
    assert!(matches!(e, ExprError::Deadline { millis: 50, .. }), "{e}");
    // The limit runs from each expression's start, not the evaluator's.
    assert_eq!(
        ev.eval(
            &Template::parse("{{ 1 + 1 }}").unwrap(),
            &ExprContext::default()
        ),
        Ok(json!(2))
    );
}
