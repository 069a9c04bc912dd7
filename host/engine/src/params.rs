//! Node parameters with their `{{ }}` expressions, ready to evaluate.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::mem::ManuallyDrop;

use n8n_work_expr::{Evaluator, ExprContext, ExprError, Limits, Template};
use n8n_work_model::{ParamTemplate, Part};
use serde_json::Value;

/// A node's params: literal values, or templates compiled for the evaluator.
#[derive(Clone, Debug)]
pub(crate) enum Params {
    Literal(Value),
    Template(Template),
    Array(Vec<Params>),
    Object(BTreeMap<String, Params>),
}

impl Params {
    /// Prepares a plan's params once per workflow version.
    pub(crate) fn compile(template: &ParamTemplate) -> Result<Params, ExprError> {
        Ok(match template {
            ParamTemplate::Literal(value) => Params::Literal(value.clone()),
            ParamTemplate::Template(t) => {
                let source: String = t
                    .parts()
                    .iter()
                    .map(|p| match p {
                        Part::Literal(text) => text.clone(),
                        Part::Expr(expr) => format!("{{{{{expr}}}}}"),
                    })
                    .collect();
                Params::Template(Template::parse(&source)?)
            }
            ParamTemplate::Array(items) => Params::Array(
                items
                    .iter()
                    .map(Params::compile)
                    .collect::<Result<_, _>>()?,
            ),
            ParamTemplate::Object(fields) => Params::Object(
                fields
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), Params::compile(v)?)))
                    .collect::<Result<_, ExprError>>()?,
            ),
        })
    }

    /// Whether any expression reads the current item (`$json`, `$input.item`,
    /// `$itemIndex`), so the params differ from item to item.
    pub(crate) fn per_item(&self) -> bool {
        match self {
            Params::Literal(_) => false,
            Params::Template(t) => t.parts().iter().any(|p| match p {
                n8n_work_expr::Part::Expression(e) => {
                    e.source.contains("$json")
                        || e.source.contains("$input.item")
                        || e.source.contains("$itemIndex")
                        || e.source.contains(".item")
                }
                n8n_work_expr::Part::Literal(_) => false,
            }),
            Params::Array(items) => items.iter().any(Params::per_item),
            Params::Object(fields) => fields.values().any(Params::per_item),
        }
    }

    /// Whether any expression reads other nodes' outputs.
    pub(crate) fn reads_nodes(&self) -> bool {
        match self {
            Params::Literal(_) => false,
            Params::Template(t) => t.parts().iter().any(|p| match p {
                n8n_work_expr::Part::Expression(e) => {
                    e.source.contains("$(") || e.source.contains("$node")
                }
                n8n_work_expr::Part::Literal(_) => false,
            }),
            Params::Array(items) => items.iter().any(Params::reads_nodes),
            Params::Object(fields) => fields.values().any(Params::reads_nodes),
        }
    }

    /// Whether any expression reads `$vars`.
    pub(crate) fn reads_vars(&self) -> bool {
        match self {
            Params::Literal(_) => false,
            Params::Template(t) => t.parts().iter().any(|p| match p {
                n8n_work_expr::Part::Expression(e) => e.source.contains("$vars"),
                n8n_work_expr::Part::Literal(_) => false,
            }),
            Params::Array(items) => items.iter().any(Params::reads_vars),
            Params::Object(fields) => fields.values().any(Params::reads_vars),
        }
    }

    /// The params' value against `context`.
    pub(crate) fn eval(&self, context: &ExprContext) -> Result<Value, ExprError> {
        with_evaluator(|evaluator| self.eval_with(evaluator, context))
    }

    fn eval_with(
        &self,
        evaluator: &mut Evaluator,
        context: &ExprContext,
    ) -> Result<Value, ExprError> {
        Ok(match self {
            Params::Literal(value) => value.clone(),
            Params::Template(t) => evaluator.eval(t, context)?,
            Params::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|p| p.eval_with(evaluator, context))
                    .collect::<Result<_, _>>()?,
            ),
            Params::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, p)| Ok((k.clone(), p.eval_with(evaluator, context)?)))
                    .collect::<Result<_, ExprError>>()?,
            ),
        })
    }

    /// The sub-params at `key`, for control nodes that evaluate fields one
    /// by one.
    pub(crate) fn field(&self, key: &str) -> Option<Params> {
        match self {
            Params::Object(fields) => fields.get(key).cloned(),
            Params::Literal(Value::Object(map)) => map.get(key).cloned().map(Params::Literal),
            _ => None,
        }
    }
}

/// Wall-clock milliseconds one expression may run while a step runs, as a
/// preview may ([`crate::preview::DEADLINE`]): an expression cannot hold a
/// worker thread longer, whatever it does inside the engine's native code.
pub const EXPRESSION_MILLIS: u64 = 2_000;

thread_local! {
    // An evaluator costs milliseconds to build and is not `Send`: one per
    // worker thread, reused by every step that runs there. It is never
    // dropped: at thread exit the JS engine's own thread-local heap may be
    // torn down first, and dropping the evaluator after it corrupts memory.
    // Worker threads live as long as the runtime, so this keeps one
    // evaluator per worker thread until the process ends.
    static EVALUATOR: RefCell<Option<ManuallyDrop<Evaluator>>> = const { RefCell::new(None) };
}

pub(crate) fn with_evaluator<T>(
    f: impl FnOnce(&mut Evaluator) -> Result<T, ExprError>,
) -> Result<T, ExprError> {
    EVALUATOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(ManuallyDrop::new(Evaluator::new(Limits {
                millis: Some(EXPRESSION_MILLIS),
                ..Limits::default()
            })?));
        }
        match slot.as_mut() {
            Some(evaluator) => f(evaluator),
            None => unreachable!("the evaluator was just built"),
        }
    })
}
