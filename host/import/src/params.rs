//! Reading an n8n node's parameters: each one taken is converted (n8n
//! expressions, resource locators), and whatever is left at the end is
//! reported as ignored.

use serde_json::{Map, Value};

use crate::report::{Note, NoteKind};

/// The expression variables n8n has and n8n-work does not.
const UNSUPPORTED: [&str; 10] = [
    "$env",
    "$binary",
    "$prevNode",
    "$jmespath",
    "$evaluateExpression",
    "$fromAI",
    "$parameter",
    "$secrets",
    "$items(",
    "$position",
];

/// The parameters of one node, taken one by one.
pub(crate) struct Taker<'a> {
    node: String,
    prefix: String,
    rest: Map<String, Value>,
    notes: &'a mut Vec<Note>,
}

impl<'a> Taker<'a> {
    pub(crate) fn new(node: &str, params: Map<String, Value>, notes: &'a mut Vec<Note>) -> Self {
        Taker {
            node: node.to_owned(),
            prefix: String::new(),
            rest: params,
            notes,
        }
    }

    /// The value of `key`, with expressions converted.
    pub(crate) fn take(&mut self, key: &str) -> Option<Value> {
        let value = self.rest.remove(key)?;
        let at = format!("{}{key}", self.prefix);
        Some(convert(&self.node, &at, value, self.notes))
    }

    /// The text of `key`, or `default`.
    pub(crate) fn text(&mut self, key: &str, default: &str) -> String {
        match self.take(key) {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => default.to_owned(),
        }
    }

    /// The flag `key`, or `default`.
    pub(crate) fn flag(&mut self, key: &str, default: bool) -> bool {
        match self.take(key) {
            Some(Value::Bool(b)) => b,
            _ => default,
        }
    }

    /// A nested collection (`options`), taken the same way; what is left in
    /// it is reported with its full name (`options.rawBody`).
    pub(crate) fn nested(&mut self, key: &str) -> Taker<'_> {
        let inner = match self.rest.remove(key) {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        Taker {
            node: self.node.clone(),
            prefix: format!("{}{key}.", self.prefix),
            rest: inner,
            notes: self.notes,
        }
    }

    /// Reports `key` as ignored, with why, if it is set.
    pub(crate) fn ignore(&mut self, key: &str, why: &str) {
        if let Some(value) = self.rest.remove(key) {
            self.notes.push(Note::new(
                &self.node,
                NoteKind::IgnoredParam,
                format!(
                    "parameter `{}{key}` ({}) is ignored: {why}",
                    self.prefix,
                    brief(&value)
                ),
            ));
        }
    }

    /// Drops `key` without a note: a value n8n-work behaves like anyway.
    pub(crate) fn drop_if(&mut self, key: &str, same_as: &Value) {
        if self.rest.get(key) == Some(same_as) {
            self.rest.remove(key);
        }
    }

    /// Adds a note about this node.
    pub(crate) fn note(&mut self, kind: NoteKind, message: String) {
        self.notes.push(Note::new(&self.node, kind, message));
    }
}

impl Drop for Taker<'_> {
    fn drop(&mut self) {
        for (key, value) in std::mem::take(&mut self.rest) {
            self.notes.push(Note::new(
                &self.node,
                NoteKind::IgnoredParam,
                format!(
                    "parameter `{}{key}` ({}) has no equivalent and is ignored",
                    self.prefix,
                    brief(&value)
                ),
            ));
        }
    }
}

/// A short rendering of a value for the report.
pub(crate) fn brief(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(59).collect::<String>())
    } else {
        text
    }
}

/// Converts a parameter value: `=`-prefixed strings are n8n expressions
/// (their `{{ }}` parts are n8n-work's too); a resource locator becomes its
/// value; everything else is kept.
pub(crate) fn convert(node: &str, at: &str, value: Value, notes: &mut Vec<Note>) -> Value {
    match value {
        Value::String(text) => Value::String(convert_text(node, at, &text, notes)),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| convert(node, &format!("{at}[{i}]"), v, notes))
                .collect(),
        ),
        Value::Object(mut map) => {
            if map.get("__rl") == Some(&Value::Bool(true)) {
                let inner = map.remove("value").unwrap_or(Value::Null);
                return convert(node, at, inner, notes);
            }
            Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let v = convert(node, &format!("{at}.{k}"), v, notes);
                        (k, v)
                    })
                    .collect(),
            )
        }
        other => other,
    }
}

fn convert_text(node: &str, at: &str, text: &str, notes: &mut Vec<Note>) -> String {
    if let Some(expression) = text.strip_prefix('=') {
        for name in UNSUPPORTED {
            if expression.contains(name) {
                notes.push(Note::new(
                    node,
                    NoteKind::Expression,
                    format!(
                        "parameter `{at}` uses `{}`, which n8n-work expressions do not provide; the step fails when it evaluates it",
                        name.trim_end_matches('(')
                    ),
                ));
            }
        }
        return expression.to_owned();
    }
    if text.contains("{{") {
        notes.push(Note::new(
            node,
            NoteKind::Expression,
            format!(
                "parameter `{at}` is fixed text in n8n but holds `{{{{`, which n8n-work evaluates as an expression; check it"
            ),
        ));
    }
    text.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expressions_lose_their_equals_sign_and_locators_their_wrapper() {
        let mut notes = Vec::new();
        let value = convert(
            "n",
            "p",
            json!({"a": "={{ $json.x }}", "b": "plain", "c": {"__rl": true, "value": "C1", "mode": "id"}}),
            &mut notes,
        );
        assert_eq!(
            value,
            json!({"a": "{{ $json.x }}", "b": "plain", "c": "C1"})
        );
        assert!(notes.is_empty());
    }

    #[test]
    fn unsupported_variables_and_literal_braces_are_reported() {
        let mut notes = Vec::new();
        convert("n", "url", json!("={{ $env.HOST }}"), &mut notes);
        convert("n", "text", json!("hello {{ name }}"), &mut notes);
        assert_eq!(notes.len(), 2);
        assert!(notes[0].message.contains("`$env`"), "{}", notes[0].message);
        assert!(
            notes[1].message.contains("fixed text"),
            "{}",
            notes[1].message
        );
    }

    #[test]
    fn leftover_parameters_are_reported_by_full_name() {
        let mut notes = Vec::new();
        {
            let mut taker = Taker::new(
                "Hook",
                json!({"path": "x", "options": {"rawBody": true}, "extra": 1})
                    .as_object()
                    .cloned()
                    .unwrap(),
                &mut notes,
            );
            assert_eq!(taker.text("path", ""), "x");
            let _ = taker.nested("options");
        }
        let messages: Vec<&str> = notes.iter().map(|n| n.message.as_str()).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages.iter().any(|m| m.contains("`options.rawBody`")));
        assert!(messages.iter().any(|m| m.contains("`extra`")));
    }
}
