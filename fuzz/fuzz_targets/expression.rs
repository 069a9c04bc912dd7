//! Any expression gives a value or an error within its limits: never a
//! panic, an abort, or a hang. One evaluator is reused across inputs, as the
//! engine reuses one per thread.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use n8n_work_expr::{Evaluator, ExprContext, Limits, Template};

thread_local! {
    static EVALUATOR: RefCell<Evaluator> =
        RefCell::new(Evaluator::new(Limits::default()).expect("engine"));
}

fuzz_target!(init: {
    // The evaluator catches the engine's panics and answers an error (boa's
    // parser panics on some input), as it does in the server; libFuzzer's
    // hook would abort at the panic, before the catch. A panic that escapes
    // `eval` still aborts: libfuzzer-sys catches it around each input.
    std::panic::set_hook(Box::new(|_| {}));
}, |data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(template) = Template::parse(text) else {
        return;
    };
    let context = ExprContext {
        json: serde_json::json!({ "a": 1, "s": "hello", "list": [1, 2, 3], "o": { "k": "v" } }),
        ..Default::default()
    };
    EVALUATOR.with(|e| {
        let _ = e.borrow_mut().eval(&template, &context);
    });
});
