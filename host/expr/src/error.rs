//! The crate's error type.

/// Why a template could not be parsed or evaluated.
///
/// Every variant that concerns one expression quotes it, and positions are
/// 1-based line/column within that expression.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ExprError {
    /// A `{{` with no matching `}}`.
    #[error(
        "template: `{{{{` at line {line}, column {column} is never closed; close it with `}}}}`"
    )]
    Unclosed {
        /// Line of the `{{` in the template.
        line: u32,
        /// Column of the `{{` in the template.
        column: u32,
    },
    /// The expression is not valid JavaScript.
    #[error("expression `{expr}`: syntax error at line {line}, column {column}: {message}")]
    Syntax {
        /// The expression's source.
        expr: String,
        /// Line within the expression.
        line: u32,
        /// Column within the expression.
        column: u32,
        /// The parser's message.
        message: String,
    },
    /// The expression threw.
    #[error("expression `{expr}`: {message}{}", position_suffix(*.line, *.column))]
    Runtime {
        /// The expression's source.
        expr: String,
        /// The thrown error, as JavaScript shows it.
        message: String,
        /// Line within the expression, when the engine reports one.
        line: Option<u32>,
        /// Column within the expression, when the engine reports one.
        column: Option<u32>,
    },
    /// The expression ran out of its instruction, loop or recursion budget.
    #[error(
        "expression `{expr}`: stopped after exceeding its {what} limit of {limit}; simplify the expression or move the work into a Code node"
    )]
    Budget {
        /// The expression's source.
        expr: String,
        /// Which limit: `instruction`, `loop iteration` or `recursion`.
        what: &'static str,
        /// The limit's value.
        limit: u64,
    },
    /// The result is larger than the output cap.
    #[error(
        "expression `{expr}`: result is larger than the limit of {limit} bytes (or {depth} levels of nesting)"
    )]
    OutputTooLarge {
        /// The expression's source.
        expr: String,
        /// The output cap in bytes.
        limit: usize,
        /// The output nesting cap.
        depth: usize,
    },
    /// The expression is longer, or nests deeper, than the parser is allowed
    /// to take.
    #[error(
        "expression `{expr}`: {what} is more than the limit of {limit}; split it into smaller expressions or move the work into a Code node"
    )]
    TooComplex {
        /// The expression's source (its first 200 characters when longer).
        expr: String,
        /// Which limit: `its source (in bytes)` or `its nesting (brackets, operators)`.
        what: &'static str,
        /// The limit's value.
        limit: usize,
    },
    /// The expression was still running at its wall-clock deadline.
    #[error(
        "expression `{expr}`: still running at its deadline of {millis} ms, so it was stopped; simplify the expression or move the work into a Code node"
    )]
    Deadline {
        /// The expression's source.
        expr: String,
        /// The deadline, in milliseconds from the evaluation's start.
        millis: u64,
    },
    /// Input data nests deeper than allowed.
    #[error(
        "input `{name}` nests deeper than {limit} levels; flatten it before it reaches an expression"
    )]
    InputTooDeep {
        /// Which input (`$json`, `$input`, `$vars`, …).
        name: &'static str,
        /// The depth cap.
        limit: usize,
    },
    /// The engine could not be set up (a bug, not a user error).
    #[error("expression engine: {0}")]
    Engine(String),
}

fn position_suffix(line: Option<u32>, column: Option<u32>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" (at line {l}, column {c})"),
        _ => String::new(),
    }
}
