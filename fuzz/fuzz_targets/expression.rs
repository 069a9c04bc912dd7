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

fuzz_target!(|data: &[u8]| {
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
