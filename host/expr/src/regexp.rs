//! `RegExp.prototype.exec` on a matcher whose time is bounded.
//!
//! boa's own matcher (regress) backtracks: `/^(a+)+$/` on forty `a`s and a
//! `b` runs for hours inside one native call, where the instruction budget
//! never looks. Every regular-expression method (`test`, `match`,
//! `matchAll`, `replace`, `search`, `split`) reaches the matcher through
//! `RegExp.prototype.exec`, so replacing `exec` routes them all through
//! `fancy-regex`: patterns without lookaround or backreferences run on the
//! `regex` crate's automata (linear in the input), and the rest on a
//! backtracking VM stopped after [`BACKTRACK_LIMIT`] steps.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use boa_engine::object::FunctionObjectBuilder;
use boa_engine::object::builtins::JsArray;
use boa_engine::property::PropertyDescriptor;
use boa_engine::string::CodePoint;
use boa_engine::{
    Context, JsArgs, JsNativeError, JsObject, JsResult, JsString, JsValue, NativeFunction,
    js_string,
};
use fancy_regex::{Regex, RegexBuilder};

/// Backtracking steps one match may take before the expression is stopped.
pub(crate) const BACKTRACK_LIMIT: usize = 100_000;
/// Compiled patterns kept per thread.
const CACHE_LIMIT: usize = 256;
/// Bytes a compiled pattern may take (the `regex` crate's own default is 10 MiB).
const SIZE_LIMIT: usize = 4 << 20;

/// The message of the uncatchable error a runaway match ends with; the
/// evaluator looks for it to report the limit.
pub(crate) const BACKTRACK_MESSAGE: &str = "regular expression backtracking";

/// Each capture group's UTF-16 start and end, when it took part.
type Spans = Vec<Option<(usize, usize)>>;

struct Compiled {
    regex: Regex,
    /// Capture group names by index (index 0 is the whole match).
    names: Vec<Option<String>>,
}

/// The last input matched, converted once: `replace` and `split` call
/// `exec` once per match (or per position) on the same string.
struct Input {
    string: JsString,
    text: String,
    /// `(byte, unit, bytes, units)` of every non-ASCII code point, in order.
    wide: Vec<(usize, usize, usize, usize)>,
    /// A search from `from` (a byte offset) found its leftmost match
    /// starting at `found` (`None`: nowhere), for the pattern `key`.
    last_search: Option<(Rc<Compiled>, usize, Option<usize>)>,
}

/// The message of the error that stops an expression whose deadline passed
/// while it was matching.
pub(crate) const DEADLINE_MESSAGE: &str = "deadline passed while matching a regular expression";

/// The wall-clock deadline of the evaluation running on this thread, checked
/// before each match and, by `boa_string` (patched), as strings are built: a
/// native loop of matches or string work never returns to the instruction
/// budget's checks.
pub(crate) struct Deadline;

impl Deadline {
    pub(crate) fn set(at: Option<std::time::Instant>) -> Deadline {
        DEADLINE.with(|d| d.set(at));
        boa_string::set_deadline(at);
        Deadline
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(None));
        boa_string::set_deadline(None);
    }
}

thread_local! {
    static DEADLINE: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
    static CACHE: RefCell<HashMap<(String, String), Rc<Compiled>>> = RefCell::new(HashMap::new());
    static INPUT: RefCell<Option<Input>> = const { RefCell::new(None) };
}

/// Whether two strings are the same allocation (not just equal text).
fn same(a: &JsString, b: &JsString) -> bool {
    use boa_engine::string::JsStrVariant;
    match (a.as_str().variant(), b.as_str().variant()) {
        (JsStrVariant::Latin1(x), JsStrVariant::Latin1(y)) => {
            x.as_ptr() == y.as_ptr() && x.len() == y.len()
        }
        (JsStrVariant::Utf16(x), JsStrVariant::Utf16(y)) => {
            x.as_ptr() == y.as_ptr() && x.len() == y.len()
        }
        _ => false,
    }
}

impl Input {
    fn new(string: JsString) -> Input {
        let mut text = String::with_capacity(string.len());
        let mut wide = Vec::new();
        let mut unit = 0;
        for cp in string.code_points() {
            let (c, units) = match cp {
                CodePoint::Unicode(c) => (c, c.len_utf16()),
                // Rust strings cannot hold a lone surrogate: it stands as U+FFFD.
                CodePoint::UnpairedSurrogate(_) => ('\u{FFFD}', 1),
            };
            if !c.is_ascii() {
                wide.push((text.len(), unit, c.len_utf8(), units));
            }
            text.push(c);
            unit += units;
        }
        Input {
            string,
            text,
            wide,
            last_search: None,
        }
    }

    /// The UTF-16 index of byte offset `byte` (a char boundary).
    fn unit_of(&self, byte: usize) -> usize {
        let i = self.wide.partition_point(|w| w.0 < byte);
        match i.checked_sub(1).map(|i| self.wide[i]) {
            Some((b, u, bytes, units)) => u + units + (byte - (b + bytes)),
            None => byte,
        }
    }

    /// The byte offset of UTF-16 index `unit`, rounded up to a char boundary.
    fn byte_of(&self, unit: usize) -> usize {
        let i = self.wide.partition_point(|w| w.1 < unit);
        match i.checked_sub(1).map(|i| self.wide[i]) {
            Some((b, u, bytes, units)) if unit < u + units => b + bytes,
            Some((b, u, bytes, units)) => b + bytes + (unit - (u + units)),
            None => unit,
        }
        .min(self.text.len())
    }
}

/// Installs the bounded `exec` on `RegExp.prototype`.
pub(crate) fn install(context: &mut Context) -> JsResult<()> {
    let exec = FunctionObjectBuilder::new(context.realm(), NativeFunction::from_fn_ptr(exec))
        .name(js_string!("exec"))
        .length(1)
        .build();
    let proto = context.intrinsics().constructors().regexp().prototype();
    proto.define_property_or_throw(
        js_string!("exec"),
        PropertyDescriptor::builder()
            .value(exec)
            .writable(true)
            .enumerable(false)
            .configurable(true),
        context,
    )?;
    Ok(())
}

fn flags_of(this: &JsObject, context: &mut Context) -> JsResult<String> {
    Ok(this
        .get(js_string!("flags"), context)?
        .to_string(context)?
        .to_std_string_escaped())
}

fn compiled(source: &str, flags: &str) -> JsResult<Rc<Compiled>> {
    let key = (source.to_owned(), flags.to_owned());
    if let Some(c) = CACHE.with(|c| c.borrow().get(&key).cloned()) {
        return Ok(c);
    }
    let pattern = translate(source, flags).map_err(|why| {
        JsNativeError::syntax().with_message(format!(
            "regular expression /{source}/{flags}: {why} (expressions run regular expressions on a matcher that cannot run away)"
        ))
    })?;
    let regex = RegexBuilder::new(&pattern)
        .backtrack_limit(BACKTRACK_LIMIT)
        .delegate_size_limit(SIZE_LIMIT)
        .build()
        .map_err(|e| {
            JsNativeError::syntax().with_message(format!(
                "regular expression /{source}/{flags} is not supported in expressions: {e}"
            ))
        })?;
    let names = regex
        .capture_names()
        .map(|n| n.map(str::to_owned))
        .collect();
    let compiled = Rc::new(Compiled { regex, names });
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CACHE_LIMIT {
            c.clear();
        }
        c.insert(key, compiled.clone());
    });
    Ok(compiled)
}

/// `RegExp.prototype.exec(string)`, as the specification's
/// RegExpBuiltinExec, on the bounded matcher.
fn exec(this: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let Some(this) = this.as_object() else {
        return Err(JsNativeError::typ()
            .with_message("RegExp.prototype.exec called on a value that is not a RegExp")
            .into());
    };
    let string = args.get_or_undefined(0).to_string(context)?;
    // boa's `source` puts a `\` before every `/`, even one already escaped
    // (`/a\/b/.source` is `a\\/b`); taking each added one out gives back a
    // pattern that means the same as the one written.
    let source = this
        .get(js_string!("source"), context)?
        .to_string(context)?
        .to_std_string_escaped()
        .replace("\\/", "/");
    let flags = flags_of(&this, context)?;
    let global = flags.contains('g');
    let sticky = flags.contains('y');
    let indices = flags.contains('d');
    let last_index = if global || sticky {
        this.get(js_string!("lastIndex"), context)?
            .to_length(context)?
    } else {
        0
    };
    let compiled = compiled(&source, &flags)?;
    let units = string.len() as u64;
    let fail = |this: &JsObject, context: &mut Context| -> JsResult<JsValue> {
        if global || sticky {
            this.set(js_string!("lastIndex"), 0, true, context)?;
        }
        Ok(JsValue::null())
    };
    if last_index > units {
        return fail(&this, context);
    }
    let captures = INPUT.with(|slot| -> JsResult<Option<Spans>> {
        let mut slot = slot.borrow_mut();
        if !slot.as_ref().is_some_and(|i| same(&i.string, &string)) {
            *slot = Some(Input::new(string.clone()));
        }
        let input = slot.as_mut().expect("just set");
        #[allow(clippy::cast_possible_truncation)]
        let from = input.byte_of(last_index as usize);
        // A sticky match must start at `from`; a search from an earlier
        // offset that found its leftmost match later says there is none.
        if sticky
            && let Some((c, searched, found)) = &input.last_search
            && Rc::ptr_eq(c, &compiled)
            && *searched <= from
            && found.is_none_or(|f| f > from)
        {
            return Ok(None);
        }
        if DEADLINE
            .with(std::cell::Cell::get)
            .is_some_and(|at| std::time::Instant::now() >= at)
        {
            return Err(JsNativeError::runtime_limit()
                .with_message(DEADLINE_MESSAGE)
                .into());
        }
        let found = compiled
            .regex
            .captures_from_pos(&input.text, from)
            .map_err(|e| match e {
                fancy_regex::Error::RuntimeError(
                    fancy_regex::RuntimeError::BacktrackLimitExceeded,
                ) => JsNativeError::runtime_limit().with_message(format!(
                    "{BACKTRACK_MESSAGE}: /{source}/{flags} took more than {BACKTRACK_LIMIT} steps"
                )),
                other => JsNativeError::error()
                    .with_message(format!("regular expression /{source}/{flags}: {other}")),
            })?;
        let Some(caps) = found else {
            input.last_search = Some((compiled.clone(), from, None));
            return Ok(None);
        };
        let start = caps.get(0).map_or(from, |m| m.start());
        input.last_search = Some((compiled.clone(), from, Some(start)));
        if sticky && start != from {
            return Ok(None);
        }
        Ok(Some(
            (0..caps.len())
                .map(|i| {
                    caps.get(i)
                        .map(|m| (input.unit_of(m.start()), input.unit_of(m.end())))
                })
                .collect(),
        ))
    })?;
    let Some(captures) = captures else {
        return fail(&this, context);
    };
    let (start, end) = captures[0].unwrap_or((0, 0));
    if global || sticky {
        this.set(js_string!("lastIndex"), end, true, context)?;
    }
    let text = |span: Option<(usize, usize)>| -> JsValue {
        span.map_or(JsValue::undefined(), |(s, e)| {
            string
                .as_str()
                .get(s..e)
                .map_or_else(|| js_string!(), JsString::from)
                .into()
        })
    };
    let values: Vec<JsValue> = captures.iter().map(|c| text(*c)).collect();
    let result = JsArray::from_iter(values, context);
    result.set(js_string!("index"), start, true, context)?;
    result.set(js_string!("input"), string.clone(), true, context)?;
    let named = compiled.names.iter().any(Option::is_some);
    let groups = if named {
        let groups = JsObject::with_null_proto();
        for (i, name) in compiled.names.iter().enumerate() {
            if let Some(name) = name {
                groups.set(
                    JsString::from(name.as_str()),
                    text(captures[i]),
                    true,
                    context,
                )?;
            }
        }
        JsValue::from(groups)
    } else {
        JsValue::undefined()
    };
    result.set(js_string!("groups"), groups, true, context)?;
    if indices {
        let pairs: Vec<JsValue> = captures
            .iter()
            .map(|c| {
                c.map_or(JsValue::undefined(), |(s, e)| {
                    JsArray::from_iter([JsValue::from(s), JsValue::from(e)], context).into()
                })
            })
            .collect();
        let list = JsArray::from_iter(pairs, context);
        result.set(js_string!("indices"), list, true, context)?;
    }
    Ok(result.into())
}

/// Rewrites a JavaScript pattern in fancy-regex's syntax, keeping
/// JavaScript's meaning where the two differ (`\d`, `\w` and `.` are
/// ASCII-only or exclude line terminators in JavaScript; lone braces and
/// brackets are literals).
fn translate(source: &str, flags: &str) -> Result<String, String> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len() + 8);
    let dot_all = flags.contains('s');
    if flags.contains('i') {
        out.push_str("(?i)");
    }
    if flags.contains('m') {
        out.push_str("(?m)");
    }
    let mut in_class = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let Some(&e) = chars.get(i + 1) else {
                    return Err("the pattern ends with a lone `\\`".into());
                };
                i += 2;
                match e {
                    'd' => out.push_str(if in_class { "0-9" } else { "[0-9]" }),
                    'D' => out.push_str("[^0-9]"),
                    'w' => out.push_str(if in_class {
                        "0-9A-Za-z_"
                    } else {
                        "[0-9A-Za-z_]"
                    }),
                    'W' => out.push_str("[^0-9A-Za-z_]"),
                    's' | 'S' => {
                        out.push('\\');
                        out.push(e);
                    }
                    'b' if in_class => out.push_str("\\x08"),
                    'b' | 'B' => {
                        out.push('\\');
                        out.push(e);
                    }
                    'n' => out.push_str("\\n"),
                    'r' => out.push_str("\\r"),
                    't' => out.push_str("\\t"),
                    'f' => out.push_str("\\x0C"),
                    'v' => out.push_str("\\x0B"),
                    '0' if !chars.get(i).is_some_and(char::is_ascii_digit) => {
                        out.push_str("\\x00");
                    }
                    '1'..='9' if !in_class => {
                        out.push('\\');
                        out.push(e);
                        while let Some(d) = chars.get(i).filter(|d| d.is_ascii_digit()) {
                            out.push(*d);
                            i += 1;
                        }
                    }
                    'k' if chars.get(i) == Some(&'<') => out.push_str("\\k"),
                    'x' => {
                        let hex: String = chars.iter().skip(i).take(2).collect();
                        if hex.len() == 2 && hex.chars().all(|h| h.is_ascii_hexdigit()) {
                            out.push_str(&format!("\\x{{{hex}}}"));
                            i += 2;
                        } else {
                            out.push('x');
                        }
                    }
                    'u' => {
                        let (cp, used) = unicode_escape(&chars[i..])
                            .ok_or("`\\u` is not followed by a code point")?;
                        i += used;
                        match char::from_u32(cp) {
                            Some(ch) => out.push_str(&format!("\\x{{{:X}}}", ch as u32)),
                            None => return Err("lone surrogates cannot be matched".into()),
                        }
                    }
                    'c' if chars.get(i).is_some_and(char::is_ascii_alphabetic) => {
                        let letter = chars[i] as u32;
                        out.push_str(&format!("\\x{{{:X}}}", letter % 32));
                        i += 1;
                    }
                    'p' | 'P' => {
                        out.push('\\');
                        out.push(e);
                    }
                    other => push_literal(&mut out, other),
                }
                continue;
            }
            '[' if in_class => out.push_str("\\["),
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            '[' => {
                if chars.get(i + 1) == Some(&'^') && chars.get(i + 2) == Some(&']') {
                    out.push_str("(?s:.)");
                    i += 3;
                    continue;
                }
                if chars.get(i + 1) == Some(&']') {
                    // `[]` matches nothing.
                    out.push_str("[^\\x{0}-\\x{10FFFF}]");
                    i += 2;
                    continue;
                }
                in_class = true;
                out.push('[');
                if chars.get(i + 1) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
            }
            '.' if !in_class => out.push_str(if dot_all {
                "(?s:.)"
            } else {
                "[^\\n\\r\\x{2028}\\x{2029}]"
            }),
            '{' if !in_class => match quantifier_len(&chars[i..]) {
                Some(len) => {
                    out.extend(&chars[i..i + len]);
                    i += len;
                    continue;
                }
                None => out.push_str("\\{"),
            },
            '}' if !in_class => out.push_str("\\}"),
            ']' => out.push_str("\\]"),
            _ => out.push(c),
        }
        i += 1;
    }
    if in_class {
        return Err("a `[` is never closed".into());
    }
    Ok(out)
}

fn push_literal(out: &mut String, c: char) {
    if c.is_ascii_punctuation() {
        out.push('\\');
        out.push(c);
    } else {
        out.push(c);
    }
}

/// A `\u` escape's code point (after the `u`) and the chars it used:
/// `XXXX`, `{X…}`, or a surrogate pair `XXXX\uXXXX`.
fn unicode_escape(rest: &[char]) -> Option<(u32, usize)> {
    let hex = |s: &[char]| -> Option<u32> {
        let text: String = s.iter().collect();
        (!text.is_empty() && text.chars().all(|c| c.is_ascii_hexdigit()))
            .then(|| u32::from_str_radix(&text, 16).ok())
            .flatten()
    };
    if rest.first() == Some(&'{') {
        let close = rest.iter().position(|&c| c == '}')?;
        return Some((hex(&rest[1..close])?, close + 1));
    }
    let high = hex(rest.get(..4)?)?;
    if (0xD800..0xDC00).contains(&high)
        && rest.get(4) == Some(&'\\')
        && rest.get(5) == Some(&'u')
        && let Some(low) = rest.get(6..10).and_then(hex)
        && (0xDC00..0xE000).contains(&low)
    {
        return Some((0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00), 10));
    }
    Some((high, 4))
}

/// The length of a `{n}`, `{n,}` or `{n,m}` quantifier at the start of
/// `rest`, or `None` when the brace is a literal.
fn quantifier_len(rest: &[char]) -> Option<usize> {
    let close = rest.iter().position(|&c| c == '}')?;
    let inner: String = rest[1..close].iter().collect();
    let (a, b) = inner.split_once(',').unwrap_or((&inner, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    (!a.is_empty() && digits(a) && digits(b)).then_some(close + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn javascript_classes_keep_their_meaning() {
        assert_eq!(translate(r"\d+", "").unwrap(), "[0-9]+");
        assert_eq!(translate(r"[\w.]", "").unwrap(), "[0-9A-Za-z_.]");
        assert_eq!(translate(r"a{2}{", "").unwrap(), r"a{2}\{");
        assert_eq!(translate(r"[^]", "").unwrap(), "(?s:.)");
        assert_eq!(translate(r"\u{1F600}", "u").unwrap(), r"\x{1F600}");
        assert_eq!(translate(r"\uD83D\uDE00", "").unwrap(), r"\x{1F600}");
        assert!(translate("[a", "").is_err());
    }
}
