//! Evaluations per second of `{{ $json.a + 1 }}` on one thread.
//!
//! `CARGO_TARGET_DIR=/work/target-expr cargo bench -p n8n-work-expr --bench eval`

use std::time::Instant;

use n8n_work_expr::{Evaluator, ExprContext, Limits, Template};

fn main() {
    let start = Instant::now();
    let mut evaluator = Evaluator::new(Limits::default()).expect("engine");
    println!("Evaluator::new: {:?}", start.elapsed());

    let template = Template::parse("{{ $json.a + 1 }}").expect("template");
    let mut data = ExprContext::default();
    let n = 200_000u32;
    let start = Instant::now();
    for i in 0..n {
        data.json = serde_json::json!({ "a": i });
        let v = evaluator.eval(&template, &data).expect("eval");
        assert_eq!(v, serde_json::json!(i + 1));
    }
    let took = start.elapsed();
    println!(
        "{{{{ $json.a + 1 }}}}: {n} evaluations in {took:?}: {:.0} evaluations/s, {:.2} µs each",
        f64::from(n) / took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / f64::from(n)
    );
}
