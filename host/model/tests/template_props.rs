//! Properties of template splitting.

use n8n_work_model::{Part, Template};
use proptest::prelude::*;

proptest! {
    #[test]
    fn a_template_prints_back_as_written(text in "[a-z {}$.]{0,40}") {
        if let Ok(Some(template)) = Template::parse(&text) {
            prop_assert_eq!(template.to_string(), text);
        }
    }

    #[test]
    fn parts_survive_a_round_trip(
        pieces in prop::collection::vec(("[a-z .]{1,8}", "[a-z $.]{0,8}[a-z]"), 1..5)
    ) {
        let mut text = String::new();
        let mut expected = Vec::new();
        for (literal, expr) in &pieces {
            text.push_str(literal);
            text.push_str("{{");
            text.push_str(expr);
            text.push_str("}}");
            expected.push(Part::Literal(literal.clone()));
            expected.push(Part::Expr(expr.clone()));
        }
        let template = Template::parse(&text).unwrap().unwrap();
        prop_assert_eq!(template.parts(), expected.as_slice());
        let clean = template.parts().iter().all(|p| match p {
            Part::Literal(l) => !l.contains("{{"),
            Part::Expr(e) => !e.contains("}}"),
        });
        prop_assert!(clean);
    }
}
