//! n8n-style `{{ }}` expressions, evaluated with no path to the host.
//!
//! Stage in the data flow (docs/architecture.md): the engine evaluates a node's
//! parameters with this crate just before it runs the node; `host/model`
//! parses them into [`Template`]s once per workflow version.
//!
//! The principal type in this crate is [`Evaluator`]: a JavaScript engine
//! (boa, pure Rust) with no host bindings, no code generation from strings,
//! frozen intrinsics, and limits on instructions, loops, recursion, input
//! depth and output size (see `docs/adr/0002-expressions.md`).
//!
//! ```
//! use n8n_work_expr::{Evaluator, ExprContext, Limits, Template};
//!
//! let mut evaluator = Evaluator::new(Limits::default()).unwrap();
//! let data = ExprContext { json: serde_json::json!({ "name": "ada lovelace" }), ..Default::default() };
//! let greeting = Template::parse("hello {{ $json.name.toTitleCase() }}!").unwrap();
//! assert_eq!(evaluator.eval(&greeting, &data).unwrap(), "hello Ada Lovelace!");
//! ```

mod context;
mod convert;
mod dates;
mod error;
mod evaluator;
mod nesting;
mod regexp;
mod strings;
mod template;

pub use context::{ExprContext, WorkflowInfo};
pub use error::ExprError;
pub use evaluator::{Evaluator, Limits};
pub use template::{Expression, Part, Template};
