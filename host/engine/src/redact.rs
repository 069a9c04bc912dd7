//! Credential values never reach the stored run: a step's outputs, its log
//! and its error are scrubbed of every string its credentials hold, as
//! written and base64-encoded (standard and URL-safe alphabets, with and
//! without padding), before anything is recorded. A vendor that echoes a
//! token back, or an error that quotes it, leaves `[redacted]` in its place.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::Value;

/// What replaces a secret.
pub(crate) const REDACTED: &str = "[redacted]";

/// Strings shorter than this are not treated as secrets: they are too
/// likely to be ordinary words (`true`, a port, a region) to blank out.
const MIN_SECRET_CHARS: usize = 4;

/// The secrets of one step's credentials, in every form looked for.
#[derive(Debug, Default)]
pub(crate) struct Redactor {
    /// Longest first, so a secret that contains another goes whole.
    needles: Vec<String>,
}

impl Redactor {
    /// The string leaves of `credentials`, and their encodings.
    pub(crate) fn new<'a>(credentials: impl IntoIterator<Item = &'a Value>) -> Redactor {
        let mut secrets = Vec::new();
        for value in credentials {
            strings(value, &mut secrets);
        }
        let mut needles: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.chars().count() >= MIN_SECRET_CHARS)
            .flat_map(|s| {
                let bytes = s.as_bytes();
                [
                    STANDARD.encode(bytes),
                    STANDARD_NO_PAD.encode(bytes),
                    URL_SAFE.encode(bytes),
                    URL_SAFE_NO_PAD.encode(bytes),
                    s.to_owned(),
                ]
            })
            .collect();
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        needles.dedup();
        Redactor { needles }
    }

    /// `text` with every secret replaced.
    pub(crate) fn text(&self, text: &str) -> String {
        let mut text = text.to_owned();
        self.string(&mut text);
        text
    }

    fn string(&self, text: &mut String) {
        for needle in &self.needles {
            if text.contains(needle.as_str()) {
                *text = text.replace(needle.as_str(), REDACTED);
            }
        }
    }

    /// Replaces every secret in the strings (and object keys) of `value`.
    pub(crate) fn value(&self, value: &mut Value) {
        if self.needles.is_empty() {
            return;
        }
        match value {
            Value::String(s) => self.string(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.value(v)),
            Value::Object(map) => self.map(map),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// Replaces every secret in the values and keys of `map`.
    pub(crate) fn map(&self, map: &mut serde_json::Map<String, Value>) {
        if self.needles.is_empty() {
            return;
        }
        let entries = std::mem::take(map);
        for (mut key, mut value) in entries {
            self.string(&mut key);
            self.value(&mut value);
            map.insert(key, value);
        }
    }
}

/// The strings in `value`, however deep.
fn strings<'a>(value: &'a Value, into: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => into.push(s),
        Value::Array(items) => items.iter().for_each(|v| strings(v, into)),
        Value::Object(map) => map.values().for_each(|v| strings(v, into)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    #[test]
    fn secrets_go_raw_and_base64_encoded_wherever_they_are() {
        let credential =
            json!({ "token": "s3cret-Tok/en+?", "user": "bot", "nested": { "key": "k-12345" } });
        let redact = Redactor::new([&credential]);
        let base64 = STANDARD.encode("s3cret-Tok/en+?");
        let url_safe = URL_SAFE_NO_PAD.encode("k-12345");
        let mut output = json!({
            "echo": format!("Bearer s3cret-Tok/en+? and {base64}"),
            "list": [url_safe, "k-12345"],
            "s3cret-Tok/en+?": 1,
            "user": "bot",
            "n": 7,
        });
        redact.value(&mut output);
        assert_eq!(
            output,
            json!({
                "echo": "Bearer [redacted] and [redacted]",
                "list": ["[redacted]", "[redacted]"],
                "[redacted]": 1,
                "user": "bot",
                "n": 7,
            }),
            "short values (`bot`) are left alone"
        );
        assert_eq!(
            redact.text("GET /x answered 401: bad token s3cret-Tok/en+?"),
            "GET /x answered 401: bad token [redacted]"
        );
    }

    #[test]
    fn without_credentials_nothing_changes() {
        let redact = Redactor::new([]);
        let mut value = json!({ "a": "anything" });
        redact.value(&mut value);
        assert_eq!(value, json!({ "a": "anything" }));
    }

    proptest! {
        #[test]
        fn no_secret_survives_in_any_form(
            secret in "[ -~]{4,40}",
            before in "[ -~]{0,20}",
            after in "[ -~]{0,20}",
        ) {
            let redact = Redactor::new([&json!({ "value": secret })]);
            for form in [secret.clone(), STANDARD.encode(&secret), URL_SAFE_NO_PAD.encode(&secret)] {
                let text = redact.text(&format!("{before}{form}{after}"));
                // What is left of the input, apart from the markers (which
                // may themselves contain a secret as short as `acte`).
                let left = text.replace(REDACTED, "\0");
                prop_assert!(!left.contains(&form), "{text} still holds {form}");
            }
        }
    }
}
