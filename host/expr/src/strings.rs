//! `Array.prototype.join` and `String.prototype.concat` that add up the
//! length of what they would build before they build it.
//!
//! boa's versions allocate first, and boa aborts the process when an
//! allocation fails: `Array(2000).fill('x'.repeat(8e6)).join('')` asked for
//! 16 GB. These refuse anything longer than the evaluator's string limit
//! with a `RangeError` naming it. (`repeat`, `padStart`, `padEnd`, `replace`,
//! `replaceAll` and `JSON.stringify` are checked in the prelude.)

use std::cell::Cell;

use boa_engine::object::FunctionObjectBuilder;
use boa_engine::property::PropertyDescriptor;
use boa_engine::{
    Context, JsArgs, JsNativeError, JsObject, JsResult, JsStr, JsString, JsValue, NativeFunction,
    js_string,
};

/// Nested `join` calls allowed (an array inside itself would otherwise
/// recurse natively until the stack runs out).
const JOIN_DEPTH: u32 = 64;

thread_local! {
    /// Elements spreads, `for...of` and array `concat` may still hand out in
    /// the evaluation running on this thread.
    static ELEMENTS_LEFT: Cell<u64> = const { Cell::new(0) };
    /// The element budget of one evaluation on this thread.
    static ELEMENT_BUDGET: Cell<u64> = const { Cell::new(0) };
    /// The string limit of the evaluator on this thread, in UTF-16 units.
    static MAX_LENGTH: Cell<usize> = const { Cell::new(usize::MAX) };
    static JOIN_DEPTH_NOW: Cell<u32> = const { Cell::new(0) };
}

fn too_long(what: &str, max: usize) -> JsNativeError {
    JsNativeError::range().with_message(format!(
        "{what}: result longer than the output limit of {max} characters"
    ))
}

/// Installs the bounded `join` and `concat`, with `max` as the limit, and
/// `__chargeElements` with a budget of `elements` per evaluation.
pub(crate) fn install(context: &mut Context, max: usize, elements: u64) -> JsResult<()> {
    MAX_LENGTH.with(|m| m.set(max));
    ELEMENT_BUDGET.with(|b| b.set(elements));
    // The prelude is not charged; each evaluation starts from the budget.
    ELEMENTS_LEFT.with(|left| left.set(u64::MAX));
    let charge = FunctionObjectBuilder::new(
        context.realm(),
        NativeFunction::from_fn_ptr(charge_elements),
    )
    .name(js_string!("__chargeElements"))
    .length(1)
    .build();
    context
        .global_object()
        .set(js_string!("__chargeElements"), charge, true, context)?;
    let array = context.intrinsics().constructors().array().prototype();
    let string = context.intrinsics().constructors().string().prototype();
    define(context, &array, "join", 1, join)?;
    define(context, &string, "concat", 1, concat)?;
    Ok(())
}

fn define(
    context: &mut Context,
    target: &JsObject,
    name: &'static str,
    length: usize,
    f: fn(&JsValue, &[JsValue], &mut Context) -> JsResult<JsValue>,
) -> JsResult<()> {
    let function = FunctionObjectBuilder::new(context.realm(), NativeFunction::from_fn_ptr(f))
        .name(JsString::from(name))
        .length(length)
        .build();
    target.define_property_or_throw(
        JsString::from(name),
        PropertyDescriptor::builder()
            .value(function)
            .writable(true)
            .enumerable(false)
            .configurable(true),
        context,
    )?;
    Ok(())
}

/// Leaves the join depth as it found it, however the call ends.
struct DepthGuard;

impl Drop for DepthGuard {
    fn drop(&mut self) {
        JOIN_DEPTH_NOW.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

fn join(this: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let max = MAX_LENGTH.with(Cell::get);
    let object = this.to_object(context)?;
    let length = object
        .get(js_string!("length"), context)?
        .to_length(context)?;
    let separator = match args.get_or_undefined(0) {
        v if v.is_undefined() => js_string!(","),
        v => v.to_string(context)?,
    };
    if length > max as u64 {
        return Err(too_long("join", max).into());
    }
    if JOIN_DEPTH_NOW.with(Cell::get) >= JOIN_DEPTH {
        return Err(JsNativeError::range()
            .with_message(format!(
                "join: arrays nested more than {JOIN_DEPTH} deep (or inside themselves)"
            ))
            .into());
    }
    JOIN_DEPTH_NOW.with(|d| d.set(d.get() + 1));
    let _guard = DepthGuard;
    let mut parts = Vec::new();
    let mut total = 0usize;
    for k in 0..length {
        if k > 0 {
            total = total.saturating_add(separator.len());
        }
        let element = object.get(k, context)?;
        if !element.is_null_or_undefined() {
            let s = element.to_string(context)?;
            total = total.saturating_add(s.len());
            parts.push(s);
        } else {
            parts.push(js_string!());
        }
        if total > max {
            return Err(too_long("join", max).into());
        }
    }
    let mut pieces: Vec<JsStr<'_>> = Vec::with_capacity(parts.len() * 2);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            pieces.push(separator.as_str());
        }
        pieces.push(part.as_str());
    }
    Ok(JsString::concat_array(&pieces).into())
}

fn concat(this: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let max = MAX_LENGTH.with(Cell::get);
    if this.is_null_or_undefined() {
        return Err(JsNativeError::typ()
            .with_message("String.prototype.concat called on null or undefined")
            .into());
    }
    let mut parts = vec![this.to_string(context)?];
    let mut total = parts[0].len();
    for arg in args {
        let s = arg.to_string(context)?;
        total = total.saturating_add(s.len());
        if total > max {
            return Err(too_long("concat", max).into());
        }
        parts.push(s);
    }
    let pieces: Vec<JsStr<'_>> = parts.iter().map(JsString::as_str).collect();
    Ok(JsString::concat_array(&pieces).into())
}

/// Gives the evaluation about to run on this thread its full element budget.
pub(crate) fn reset_element_budget() {
    ELEMENTS_LEFT.with(|left| left.set(ELEMENT_BUDGET.with(Cell::get)));
}

/// `__chargeElements(n)`: takes `n` elements from the evaluation's budget,
/// or throws once it is spent.
fn charge_elements(_: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let n = args.get_or_undefined(0).to_length(context)?;
    ELEMENTS_LEFT.with(|left| {
        if n > left.get() {
            let budget = ELEMENT_BUDGET.with(Cell::get);
            return Err(JsNativeError::range()
                .with_message(format!(
                    "spread, for...of or concat: more than {budget} elements handed out in one expression; work on fewer elements at a time"
                ))
                .into());
        }
        left.set(left.get() - n);
        Ok(JsValue::undefined())
    })
}
