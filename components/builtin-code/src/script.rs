//! The user's snippet in a boa context: the n8n globals, the call in either
//! mode, and errors placed at the user's line and column.

use boa_engine::object::builtins::JsPromise;
use boa_engine::{
    Context, JsError, JsNativeError, JsResult, JsValue, NativeFunction, Source,
    builtins::promise::PromiseState, js_string,
};
use serde_json::Value;

use crate::output::{self, Normalised};

/// The globals' setup, evaluated once per step.
const PRELUDE: &str = include_str!("prelude.js");

/// The snippet's name in positions and backtraces.
const SOURCE_NAME: &str = "code";

/// Log levels as the prelude names them.
pub(crate) type Emit = fn(level: &str, message: &str);

/// How often the snippet runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Once, over all items (`$input.all()`, `items`).
    AllItems,
    /// Once per item (`$json`, `$input.item`).
    EachItem,
}

/// What the snippet sees besides its code.
#[derive(Debug)]
pub(crate) struct Input {
    /// The input items as `{json, binary}` objects.
    pub(crate) items: Vec<Value>,
    /// Earlier nodes' output items, `{json}` objects by node name.
    pub(crate) nodes: serde_json::Map<String, Value>,
    pub(crate) execution_id: String,
    pub(crate) workflow_id: String,
    pub(crate) node_id: String,
}

/// Why a snippet produced no items.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ScriptError {
    /// What went wrong, with the user's line and column where known.
    pub(crate) message: String,
    /// `syntax`, `runtime` or `output`.
    pub(crate) code: &'static str,
}

impl ScriptError {
    fn output(message: String) -> ScriptError {
        ScriptError {
            message,
            code: "output",
        }
    }
}

/// Runs `code` over `input` and returns the items it produced.
pub(crate) fn run(
    code: &str,
    mode: Mode,
    input: &Input,
    emit: Emit,
) -> Result<Vec<Value>, ScriptError> {
    let context = &mut Context::default();
    let count = input.items.len();
    let set_item = prelude(context, input, emit).map_err(|e| runtime_error(&e, context))?;
    let function = compile(code, context)?;
    match mode {
        Mode::AllItems => {
            let value = call(&function, context)?;
            match output::all_items(value) {
                Normalised::Items(items) => Ok(items),
                Normalised::Invalid(why) => Err(ScriptError::output(why)),
            }
        }
        Mode::EachItem => {
            let mut items = Vec::with_capacity(count);
            for index in 0..count {
                set_item
                    .call(
                        &JsValue::undefined(),
                        &[JsValue::from(index as u32)],
                        context,
                    )
                    .map_err(|e| runtime_error(&e, context))?;
                let value = call(&function, context).map_err(|mut e| {
                    e.message = format!("item {index}: {}", e.message);
                    e
                })?;
                match output::one_item(value) {
                    Normalised::Items(produced) => items.extend(produced),
                    Normalised::Invalid(why) => {
                        return Err(ScriptError::output(format!("item {index}: {why}")));
                    }
                }
            }
            Ok(items)
        }
    }
}

/// Defines the n8n globals; returns `setItem(i)`.
fn prelude(context: &mut Context, input: &Input, emit: Emit) -> JsResult<boa_engine::JsObject> {
    let data = serde_json::json!({
        "items": input.items,
        "nodes": input.nodes,
        "executionId": input.execution_id,
        "workflowId": input.workflow_id,
        "nodeId": input.node_id,
    });
    let data = JsValue::from_json(&data, context)?;
    let emit = NativeFunction::from_copy_closure(move |_, args, context| {
        let level = args
            .first()
            .cloned()
            .unwrap_or_default()
            .to_string(context)?;
        let message = args
            .get(1)
            .cloned()
            .unwrap_or_default()
            .to_string(context)?;
        emit(
            &level.to_std_string_escaped(),
            &message.to_std_string_escaped(),
        );
        Ok(JsValue::undefined())
    })
    .to_js_function(context.realm());
    let setup = context.eval(Source::from_bytes(PRELUDE))?;
    let setup = setup
        .as_callable()
        .ok_or_else(|| JsNativeError::typ().with_message("the prelude is not a function"))?;
    let set_item = setup.call(&JsValue::undefined(), &[data, emit.into()], context)?;
    set_item.as_callable().ok_or_else(|| {
        JsNativeError::typ()
            .with_message("the prelude returned no setItem")
            .into()
    })
}

/// The snippet as the body of a function, as n8n runs it: `return` ends it,
/// and `await` works when the snippet uses it. The body starts on line 2, so
/// positions are one line off and [`user_position`] moves them back.
fn compile(code: &str, context: &mut Context) -> Result<boa_engine::JsObject, ScriptError> {
    let keyword = if code.contains("await") {
        "async function"
    } else {
        "function"
    };
    let wrapped = format!("({keyword} () {{\n{code}\n}})");
    let source = Source::from_bytes(&wrapped).with_path(std::path::Path::new(SOURCE_NAME));
    let value = context.eval(source).map_err(|e| ScriptError {
        message: user_position(&plain_message(&e, context)),
        code: "syntax",
    })?;
    value.as_callable().ok_or_else(|| ScriptError {
        message: "the code does not compile to a function".to_owned(),
        code: "syntax",
    })
}

/// Calls the snippet's function and waits for its promise, if it made one.
fn call(function: &boa_engine::JsObject, context: &mut Context) -> Result<Value, ScriptError> {
    let result = function
        .call(&JsValue::undefined(), &[], context)
        .map_err(|e| runtime_error(&e, context))?;
    let result = match result
        .as_object()
        .and_then(|o| JsPromise::from_object(o).ok())
    {
        Some(promise) => {
            context.run_jobs().map_err(|e| runtime_error(&e, context))?;
            match promise.state() {
                PromiseState::Fulfilled(value) => value,
                PromiseState::Rejected(reason) => {
                    return Err(runtime_error(&JsError::from_opaque(reason), context));
                }
                PromiseState::Pending => {
                    return Err(ScriptError {
                        message: "the code awaited a promise that never settled".to_owned(),
                        code: "runtime",
                    });
                }
            }
        }
        None => result,
    };
    result
        .to_json(context)
        .map(|v| v.unwrap_or(Value::Null))
        .map_err(|e| {
            ScriptError::output(format!(
                "the returned value is not JSON: {}",
                plain_message(&e, context)
            ))
        })
}

/// An uncaught error, with where the user's code threw it.
fn runtime_error(error: &JsError, context: &mut Context) -> ScriptError {
    let full = error.to_string();
    let message = plain_message(error, context);
    let at = full
        .lines()
        .skip(1)
        .find_map(frame_position)
        .map(|(line, column)| format!(" (at line {line}, column {column})"))
        .unwrap_or_default();
    ScriptError {
        message: format!("{message}{at}"),
        code: "runtime",
    }
}

/// `Name: message` of an error, without boa's backtrace.
fn plain_message(error: &JsError, context: &mut Context) -> String {
    if let Ok(native) = error.try_native(context) {
        return native.to_string();
    }
    let value = error.to_opaque(context);
    if let Some(object) = value.as_object() {
        let name = object
            .get(js_string!("name"), context)
            .ok()
            .filter(|v| !v.is_undefined())
            .and_then(|v| v.to_string(context).ok())
            .map(|s| s.to_std_string_escaped());
        let message = object
            .get(js_string!("message"), context)
            .ok()
            .filter(|v| !v.is_undefined())
            .and_then(|v| v.to_string(context).ok())
            .map(|s| s.to_std_string_escaped());
        if let Some(message) = message {
            return match name {
                Some(name) => format!("{name}: {message}"),
                None => message,
            };
        }
    }
    let shown = value
        .to_string(context)
        .map(|s| s.to_std_string_escaped())
        .unwrap_or_else(|_| "an exception".to_owned());
    format!("Uncaught {shown}")
}

/// The user's (line, column) in one backtrace frame, such as
/// `at <anonymous> (code:3:7)`.
fn frame_position(frame: &str) -> Option<(u32, u32)> {
    let start = frame.find(&format!("({SOURCE_NAME}:"))? + SOURCE_NAME.len() + 2;
    let rest = &frame[start..];
    let end = rest.find(')')?;
    let (line, column) = rest[..end].split_once(':')?;
    let line: u32 = line.parse().ok()?;
    let column: u32 = column.parse().ok()?;
    // Line 1 is the wrapper's; the prelude's frames carry no path.
    (line >= 2).then(|| (line - 1, column))
}

/// A parser message with its `at line L, col C` moved onto the user's lines.
fn user_position(message: &str) -> String {
    let Some(at) = message.rfind(" at line ") else {
        return message.to_owned();
    };
    let tail = &message[at + " at line ".len()..];
    let Some((line, column)) = tail.split_once(", col ") else {
        return message.to_owned();
    };
    let (Ok(line), Ok(column)) = (line.trim().parse::<u32>(), column.trim().parse::<u32>()) else {
        return message.to_owned();
    };
    let line = line.saturating_sub(1).max(1);
    format!("{} (at line {line}, column {column})", &message[..at])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn quiet(_: &str, _: &str) {}

    fn input(items: &Value) -> Input {
        Input {
            items: items
                .as_array()
                .unwrap()
                .iter()
                .map(|j| json!({"json": j, "binary": {}}))
                .collect(),
            nodes: serde_json::Map::new(),
            execution_id: "e1".into(),
            workflow_id: "w1".into(),
            node_id: "code".into(),
        }
    }

    #[test]
    fn a_runtime_error_names_the_users_line_and_column() {
        let code = "const a = 1;\nconst b = null;\nreturn b.c;";
        let err = run(code, Mode::AllItems, &input(&json!([])), quiet).unwrap_err();
        assert_eq!(err.code, "runtime");
        assert!(err.message.contains("line 3"), "{}", err.message);
    }

    #[test]
    fn a_thrown_error_names_the_users_line() {
        let code = "\n\n  throw new Error('boom');";
        let err = run(code, Mode::AllItems, &input(&json!([])), quiet).unwrap_err();
        assert!(err.message.starts_with("Error: boom"), "{}", err.message);
        assert!(err.message.contains("line 3, column"), "{}", err.message);
    }

    #[test]
    fn a_syntax_error_names_the_users_line_and_column() {
        let code = "const a = 1;\nconst = 2;";
        let err = run(code, Mode::AllItems, &input(&json!([])), quiet).unwrap_err();
        assert_eq!(err.code, "syntax");
        assert!(
            err.message.contains("(at line 2, column"),
            "{}",
            err.message
        );
    }
}
