//! The sandboxed JavaScript engine that evaluates templates.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Instant;

use boa_engine::context::HostHooks;
use boa_engine::module::IdleModuleLoader;
use boa_engine::object::builtins::JsPromise;
use boa_engine::realm::Realm;
use boa_engine::script::Script;
use boa_engine::{Context, JsError, JsNativeError, JsResult, JsString, JsValue, Source, js_string};
use serde_json::Value;

use crate::convert::{self, OutputError};
use crate::template::{Expression, Part, Template};
use crate::{ExprContext, ExprError};

const PRELUDE: &str = include_str!("prelude.js");
const SEAL: &str = include_str!("seal.js");
/// Compiled expressions kept per evaluator before the cache is emptied.
const SCRIPT_CACHE_LIMIT: usize = 4096;
/// Engine cost units run between two budget checks.
const BUDGET_SLICE: u32 = 4096;
/// Default source size of one expression (n8n's longest in the corpus is
/// under 4 KiB).
const SOURCE_BYTES: usize = 32 << 10;
/// Default nesting of one expression's source.
const NESTING: usize = 64;
/// The stack boa parses and compiles an expression on. A bracket costs
/// about 115 KiB of it in a debug build (twenty frames of the expression
/// grammar), a few KiB in a release build: room for [`NESTING`] levels
/// eight times over. Only what is used is committed.
const PARSE_STACK: usize = 64 << 20;

/// Bounds on one evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Engine cost units (roughly bytecode instructions) one expression may run.
    pub instructions: u64,
    /// Loop iterations allowed in one function call.
    pub loop_iterations: u64,
    /// Nested function calls allowed.
    pub recursion: usize,
    /// Bytes the JSON result may take, and characters a string may grow to.
    pub output_bytes: usize,
    /// Nesting depth allowed in input data and in the result.
    pub depth: usize,
    /// Elements spreads (`[...a]`, `f(...a)`), `for...of` and array
    /// `concat` may hand out in one evaluation: they copy natively, where
    /// the instruction budget does not look.
    pub elements: usize,
    /// Bytes of source one expression may have.
    pub source_bytes: usize,
    /// Nesting one expression's source may reach: open brackets plus
    /// operators in a row (the parser recurses on each).
    pub nesting: usize,
    /// Wall-clock milliseconds one expression may run, inside native calls
    /// too (looked at between slices of instructions, before each regular
    /// expression match and as strings are built); `None`: no limit beyond
    /// the deadline [`Evaluator::set_deadline`] sets.
    pub millis: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            instructions: 4_000_000,
            loop_iterations: 100_000,
            recursion: 256,
            output_bytes: 8 << 20,
            depth: 100,
            elements: 1 << 20,
            source_bytes: SOURCE_BYTES,
            nesting: NESTING,
            millis: None,
        }
    }
}

/// Evaluates [`Template`]s in a JavaScript engine with no host bindings.
///
/// One evaluator owns one engine: it is built once (prelude installed,
/// intrinsics frozen) and reused for every item of a batch. It is not `Send`;
/// make one per worker thread.
pub struct Evaluator {
    context: Context,
    limits: Limits,
    scripts: HashMap<String, Script>,
    /// Context globals set by the previous evaluation, so stale data is cleared.
    set_mask: u8,
    /// When the current evaluation must stop, and how long it was given.
    deadline: Option<(Instant, u64)>,
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Host hooks that refuse to turn strings into code (`eval`, `Function(...)`).
struct SealedHooks;

impl HostHooks for SealedHooks {
    fn ensure_can_compile_strings(
        &self,
        _realm: Realm,
        _parameters: &[JsString],
        _body: &JsString,
        _direct: bool,
        _context: &mut Context,
    ) -> JsResult<()> {
        Err(JsNativeError::eval()
            .with_message("code generation from strings is disabled in expressions")
            .into())
    }
}

// Which context globals an expression mentions; unused ones are not converted.
const USES_INPUT: u8 = 1;
const USES_NODES: u8 = 1 << 1;
const USES_EXECUTION: u8 = 1 << 2;
const USES_WORKFLOW: u8 = 1 << 3;
const USES_VARS: u8 = 1 << 4;
const USES_NOW: u8 = 1 << 5;

fn uses(source: &str) -> u8 {
    let mut mask = 0;
    let has = |s: &str| source.contains(s);
    if has("$input") {
        mask |= USES_INPUT;
    }
    if has("$node")
        || source
            .match_indices('$')
            .any(|(i, _)| source[i + 1..].trim_start().starts_with('('))
    {
        mask |= USES_NODES;
    }
    if has("$execution") {
        mask |= USES_EXECUTION;
    }
    if has("$workflow") {
        mask |= USES_WORKFLOW;
    }
    if has("$vars") {
        mask |= USES_VARS;
    }
    if has("$now")
        || has("$today")
        || has("DateTime")
        || has("Duration")
        || has("toRelative")
        || has("diffToNow")
        || has("isInLast")
    {
        mask |= USES_NOW;
    }
    mask
}

/// Wraps an expression so that it runs in strict mode with `this` undefined.
/// The expression starts on line 2, column 1.
fn wrap(source: &str) -> String {
    format!("(function () {{ \"use strict\"; return (\n{source}\n); }})()")
}

impl Evaluator {
    /// Builds an engine with the n8n prelude installed and every path to
    /// code generation removed.
    pub fn new(limits: Limits) -> Result<Evaluator, ExprError> {
        quiet_string_limit_panics();
        let context = build_context(&limits)?;
        Ok(Evaluator {
            context,
            limits,
            scripts: HashMap::new(),
            set_mask: 0,
            deadline: None,
        })
    }

    /// Stops every evaluation from now on once `millis` milliseconds have
    /// passed since this call (checked between slices of instructions and
    /// inside regular-expression matching), or lifts the deadline (`None`).
    pub fn set_deadline(&mut self, millis: Option<u64>) {
        self.deadline =
            millis.map(|ms| (Instant::now() + std::time::Duration::from_millis(ms), ms));
    }

    /// When the expression starting now must end: the sooner of the
    /// evaluator's deadline and [`Limits::millis`] from now.
    fn expression_deadline(&self) -> Option<(Instant, u64)> {
        let own = self
            .limits
            .millis
            .map(|ms| (Instant::now() + std::time::Duration::from_millis(ms), ms));
        match (self.deadline, own) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        }
    }

    /// The limits this evaluator enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Evaluates `template` against `data`.
    ///
    /// A template that is exactly one `{{ }}` yields the expression's JSON
    /// value; any other template yields a string.
    pub fn eval(&mut self, template: &Template, data: &ExprContext) -> Result<Value, ExprError> {
        if let Some(expr) = template.single_expression() {
            return Ok(self.eval_expression(expr, data)?.unwrap_or(Value::Null));
        }
        let mut out = String::new();
        for part in template.parts() {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Expression(expr) => match self.eval_expression(expr, data)? {
                    None | Some(Value::Null) => {}
                    Some(Value::String(s)) => out.push_str(&s),
                    Some(v) => out.push_str(&v.to_string()),
                },
            }
            if out.len() > self.limits.output_bytes {
                return Err(ExprError::OutputTooLarge {
                    expr: template_source(template),
                    limit: self.limits.output_bytes,
                    depth: self.limits.depth,
                });
            }
        }
        Ok(Value::String(out))
    }

    fn eval_expression(
        &mut self,
        expr: &Expression,
        data: &ExprContext,
    ) -> Result<Option<Value>, ExprError> {
        let mask = uses(&expr.source);
        self.bind(mask, data)
            .map_err(|e| self.runtime_error(expr, &e))?
            .map_or(Ok(()), Err)?;
        let script = self.script(expr)?;
        let limits = self.limits;
        let deadline = self.expression_deadline();
        let context = &mut self.context;
        // Strings longer than the output limit are refused by boa_string
        // (patched, third_party/README.md) with a panic, caught here before
        // anything is allocated; any other panic of the engine is caught too,
        // so an expression cannot take its thread down.
        let caught = {
            let _limit = StringLimit::set(limits.output_bytes);
            crate::strings::reset_element_budget();
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                run_budgeted(&script, context, limits.instructions, deadline)
            }))
        };
        let outcome = match caught {
            Ok(outcome) => outcome,
            Err(payload) => {
                self.reset()?;
                return Err(panic_error(expr, &limits, deadline, payload.as_ref()));
            }
        };
        let result = match outcome {
            Run::Done(r) => r,
            stopped => {
                // The run was cut off mid-instruction: the VM's stacks are not
                // unwound, so the engine is rebuilt before the next evaluation.
                self.reset()?;
                return Err(match stopped {
                    Run::Deadline(millis) => ExprError::Deadline {
                        expr: expr.source.clone(),
                        millis,
                    },
                    _ => ExprError::Budget {
                        expr: expr.source.clone(),
                        what: "instruction",
                        limit: self.limits.instructions,
                    },
                });
            }
        };
        let value = result.map_err(|e| self.runtime_error(expr, &e))?;
        if let Some(obj) = value.as_object()
            && JsPromise::from_object(obj).is_ok()
        {
            return Err(ExprError::Runtime {
                expr: expr.source.clone(),
                message:
                    "the expression returned a Promise; expressions cannot wait for async work"
                        .into(),
                line: None,
                column: None,
            });
        }
        let mut budget = self.limits.output_bytes;
        // Converting may run the result's `toJSON` and getters: the same
        // string limit and panic guard hold.
        let context = &mut self.context;
        let converted = {
            let _limit = StringLimit::set(limits.output_bytes);
            let _deadline = crate::regexp::Deadline::set(deadline.map(|(at, _)| at));
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                convert::to_json(&value, context, limits.depth, &mut budget)
            }))
        };
        let converted = match converted {
            Ok(c) => c,
            Err(payload) => {
                self.reset()?;
                return Err(panic_error(expr, &limits, deadline, payload.as_ref()));
            }
        };
        match converted {
            Ok(v) => Ok(v),
            Err(OutputError::TooLarge) => Err(ExprError::OutputTooLarge {
                expr: expr.source.clone(),
                limit: self.limits.output_bytes,
                depth: self.limits.depth,
            }),
            Err(OutputError::Js(e)) => Err(self.runtime_error(expr, &e)),
        }
    }

    /// Sets the context globals the expression uses and clears the ones a
    /// previous expression set. The outer error is the engine's; the inner
    /// one is input that is too deep.
    fn bind(&mut self, mask: u8, data: &ExprContext) -> JsResult<Option<ExprError>> {
        let depth = self.limits.depth;
        let ctx = &mut self.context;
        let global = ctx.global_object();
        let set = |name: JsString, value: JsValue, ctx: &mut Context| -> JsResult<()> {
            global.set(name, value, true, ctx).map(|_| ())
        };
        let json = |name: &'static str,
                    v: &Value,
                    ctx: &mut Context|
         -> JsResult<Result<JsValue, ExprError>> {
            if convert::depth_exceeds(v, depth) {
                return Ok(Err(ExprError::InputTooDeep { name, limit: depth }));
            }
            JsValue::from_json(v, ctx).map(Ok)
        };
        macro_rules! try_input {
            ($e:expr) => {
                match $e? {
                    Ok(v) => v,
                    Err(e) => return Ok(Some(e)),
                }
            };
        }
        let v = try_input!(json("$json", &data.json, ctx));
        set(js_string!("$json"), v, ctx)?;
        let index = u32::try_from(data.item_index).map_or(JsValue::new(f64::MAX), JsValue::new);
        set(js_string!("$itemIndex"), index, ctx)?;
        for bit in [
            USES_INPUT,
            USES_NODES,
            USES_EXECUTION,
            USES_WORKFLOW,
            USES_VARS,
            USES_NOW,
        ] {
            if (mask | self.set_mask) & bit == 0 {
                continue;
            }
            let used = mask & bit != 0;
            let (name, value) = match bit {
                USES_INPUT => (
                    js_string!("__inputItems"),
                    if used {
                        try_input!(json("$input", &Value::Array(data.input_items.clone()), ctx))
                    } else {
                        JsValue::undefined()
                    },
                ),
                USES_NODES => (
                    js_string!("__nodes"),
                    if used {
                        let nodes: serde_json::Map<String, Value> = data
                            .nodes
                            .iter()
                            .map(|(k, v)| (k.clone(), Value::Array(v.clone())))
                            .collect();
                        try_input!(json("$node", &Value::Object(nodes), ctx))
                    } else {
                        JsValue::undefined()
                    },
                ),
                USES_EXECUTION => (
                    js_string!("$execution"),
                    if used {
                        try_input!(json(
                            "$execution",
                            &serde_json::json!({ "id": data.execution_id }),
                            ctx
                        ))
                    } else {
                        JsValue::undefined()
                    },
                ),
                USES_WORKFLOW => (
                    js_string!("$workflow"),
                    if used {
                        let w = serde_json::json!({ "id": data.workflow.id, "name": data.workflow.name });
                        try_input!(json("$workflow", &w, ctx))
                    } else {
                        JsValue::undefined()
                    },
                ),
                USES_VARS => (
                    js_string!("$vars"),
                    if used {
                        try_input!(json(
                            "$vars",
                            &serde_json::to_value(&data.vars).unwrap_or_default(),
                            ctx
                        ))
                    } else {
                        JsValue::undefined()
                    },
                ),
                _ => (
                    js_string!("__nowMillis"),
                    if used {
                        #[allow(clippy::cast_precision_loss)]
                        JsValue::new(data.now_millis as f64)
                    } else {
                        JsValue::undefined()
                    },
                ),
            };
            set(name, value, ctx)?;
        }
        self.set_mask = mask;
        Ok(None)
    }

    /// A fresh engine, after a run that was cut off or panicked.
    fn reset(&mut self) -> Result<(), ExprError> {
        self.context = build_context(&self.limits)?;
        self.scripts.clear();
        self.set_mask = 0;
        Ok(())
    }

    fn script(&mut self, expr: &Expression) -> Result<Script, ExprError> {
        if let Some(s) = self.scripts.get(&expr.source) {
            return Ok(s.clone());
        }
        crate::nesting::check(&expr.source, self.limits.source_bytes, self.limits.nesting)?;
        let wrapped = wrap(&expr.source);
        let context = &mut self.context;
        // boa's parser and compiler recurse once per level of nesting (a
        // debug build overflowed a 2 MiB runtime worker's stack at 25
        // brackets): both run on a stack of their own, large enough for the
        // nesting limit whatever thread evaluates. Compiling here, once per
        // expression, leaves evaluation on the thread's own stack.
        // boa's parser panics on some input (fuzzing found `~debugger`:
        // "a span cannot start after its end"): caught, it is an error.
        let parsed = stacker::maybe_grow(PARSE_STACK, PARSE_STACK, || {
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                let script = Script::parse(Source::from_bytes(wrapped.as_bytes()), None, context)?;
                script.codeblock(context)?;
                Ok::<_, JsError>(script)
            }))
        });
        let script = match parsed {
            Ok(parsed) => parsed.map_err(|e| syntax_error(expr, &e))?,
            Err(payload) => {
                self.reset()?;
                return Err(panic_error(expr, &self.limits, None, payload.as_ref()));
            }
        };
        if self.scripts.len() >= SCRIPT_CACHE_LIMIT {
            self.scripts.clear();
        }
        self.scripts.insert(expr.source.clone(), script.clone());
        Ok(script)
    }

    fn runtime_error(&mut self, expr: &Expression, err: &JsError) -> ExprError {
        if let Some(native) = err.as_native()
            && native.is_runtime_limit()
        {
            if native.message() == crate::regexp::DEADLINE_MESSAGE {
                return ExprError::Deadline {
                    expr: expr.source.clone(),
                    millis: self.expression_deadline().map_or(0, |(_, ms)| ms),
                };
            }
            let (what, limit) = if native.message().contains("recursi") {
                ("recursion", self.limits.recursion as u64)
            } else if native.message().contains("loop") {
                ("loop iteration", self.limits.loop_iterations)
            } else if native
                .message()
                .starts_with(crate::regexp::BACKTRACK_MESSAGE)
            {
                (
                    crate::regexp::BACKTRACK_MESSAGE,
                    crate::regexp::BACKTRACK_LIMIT as u64,
                )
            } else {
                ("stack size", STACK_SIZE as u64)
            };
            return ExprError::Budget {
                expr: expr.source.clone(),
                what,
                limit,
            };
        }
        let message = match err.try_native(&mut self.context) {
            Ok(native) => native.to_string(),
            Err(_) => err.to_string(),
        };
        // boa's frame positions for runtime errors do not map reliably onto
        // the wrapped source yet, so only syntax errors carry a position.
        ExprError::Runtime {
            expr: expr.source.clone(),
            message,
            line: None,
            column: None,
        }
    }
}

/// Value-stack slots one evaluation may use.
const STACK_SIZE: usize = 10 * 1024;

fn build_context(limits: &Limits) -> Result<Context, ExprError> {
    let engine = |e: JsError| ExprError::Engine(e.to_string());
    let mut context = Context::builder()
        .host_hooks(Rc::new(SealedHooks))
        .module_loader(Rc::new(IdleModuleLoader))
        .build()
        .map_err(engine)?;
    context.strict(true);
    let rt = context.runtime_limits_mut();
    rt.set_loop_iteration_limit(limits.loop_iterations);
    rt.set_recursion_limit(limits.recursion);
    rt.set_stack_size_limit(STACK_SIZE);
    let max_len = u32::try_from(limits.output_bytes).unwrap_or(u32::MAX);
    context
        .global_object()
        .set(js_string!("__maxStringLength"), max_len, true, &mut context)
        .map_err(engine)?;
    crate::regexp::install(&mut context).map_err(engine)?;
    crate::strings::install(&mut context, limits.output_bytes, limits.elements as u64)
        .map_err(engine)?;
    crate::dates::install(&mut context).map_err(engine)?;
    context.eval(Source::from_bytes(PRELUDE)).map_err(engine)?;
    context.eval(Source::from_bytes(SEAL)).map_err(engine)?;
    Ok(context)
}

/// How a budgeted run ended.
enum Run {
    Done(JsResult<JsValue>),
    Budget,
    /// The deadline passed; its length in milliseconds.
    Deadline(u64),
}

/// Runs `script`, stopping it once it has spent `budget` cost units or its
/// deadline has passed.
fn run_budgeted(
    script: &Script,
    context: &mut Context,
    budget: u64,
    deadline: Option<(Instant, u64)>,
) -> Run {
    let _deadline = crate::regexp::Deadline::set(deadline.map(|(at, _)| at));
    let mut future = std::pin::pin!(script.evaluate_async_with_budget(context, BUDGET_SLICE));
    let mut cx = std::task::Context::from_waker(Waker::noop());
    let mut spent = 0u64;
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(r) => return Run::Done(r),
            Poll::Pending => {
                spent += u64::from(BUDGET_SLICE);
                if spent >= budget {
                    return Run::Budget;
                }
                if let Some((at, millis)) = deadline
                    && Instant::now() >= at
                {
                    return Run::Deadline(millis);
                }
            }
        }
    }
}

/// Sets boa's string length limit on this thread for as long as it lives;
/// lifted again however the run ends (input data bound before a run may
/// hold longer strings).
struct StringLimit;

impl StringLimit {
    fn set(max: usize) -> StringLimit {
        boa_string::set_length_limit(Some(max));
        StringLimit
    }
}

impl Drop for StringLimit {
    fn drop(&mut self) {
        boa_string::set_length_limit(None);
    }
}

/// The error for a panic caught inside the engine.
fn panic_error(
    expr: &Expression,
    limits: &Limits,
    deadline: Option<(Instant, u64)>,
    payload: &(dyn std::any::Any + Send),
) -> ExprError {
    if payload.is::<boa_string::DeadlinePassed>() {
        return ExprError::Deadline {
            expr: expr.source.clone(),
            millis: deadline.map_or(0, |(_, ms)| ms),
        };
    }
    if payload.is::<boa_string::LengthLimitExceeded>() {
        return ExprError::OutputTooLarge {
            expr: expr.source.clone(),
            limit: limits.output_bytes,
            depth: limits.depth,
        };
    }
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown failure".to_owned());
    ExprError::Engine(format!(
        "the engine failed on expression `{}` ({message}); it was stopped and the engine rebuilt. Report this with the expression",
        expr.source
    ))
}

/// Keeps the default panic hook from printing the string-limit panics the
/// evaluator catches; every other panic is printed as before.
fn quiet_string_limit_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            if !payload.is::<boa_string::LengthLimitExceeded>()
                && !payload.is::<boa_string::DeadlinePassed>()
            {
                previous(info);
            }
        }));
    });
}

fn syntax_error(expr: &Expression, err: &JsError) -> ExprError {
    let text = err.to_string();
    let (line, column) = err_position(&text);
    ExprError::Syntax {
        expr: expr.source.clone(),
        line: line.unwrap_or(1),
        column: column.unwrap_or(1),
        message: text,
    }
}

/// Finds "line L, col C" (or "L:C") in an engine message and maps it from
/// the wrapped source back to the expression (which starts on line 2).
fn err_position(text: &str) -> (Option<u32>, Option<u32>) {
    let nums: Vec<u32> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect();
    let idx = text.find("line ").or_else(|| text.find(':'));
    if idx.is_none() || nums.len() < 2 {
        return (None, None);
    }
    let (line, column) = (nums[nums.len() - 2], nums[nums.len() - 1]);
    if line < 2 {
        return (Some(1), Some(1));
    }
    (Some(line - 1), Some(column))
}

fn template_source(template: &Template) -> String {
    template
        .parts()
        .iter()
        .map(|p| match p {
            Part::Literal(s) => s.clone(),
            Part::Expression(e) => format!("{{{{ {} }}}}", e.source),
        })
        .collect()
}
