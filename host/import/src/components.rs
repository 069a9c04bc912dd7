//! Converters for the n8n nodes that map onto built-in components:
//! HTTP Request → `builtin:http`, Slack → `builtin:slack`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::nodes::{Converted, ordered_pairs, pairs};
use crate::params::Taker;
use crate::report::NoteKind;

/// The n8n credential a node uses for `n8n_type`, by its name.
fn credential(credentials: &Map<String, Value>, n8n_type: &str) -> Option<String> {
    credentials
        .get(n8n_type)
        .and_then(|c| c.get("name").or_else(|| c.get("id")))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn origin(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    match url.scheme() {
        "http" | "https" => Some(url.origin().ascii_serialization()),
        _ => None,
    }
}

pub(crate) fn http(p: &mut Taker<'_>, version: f64, credentials: &Map<String, Value>) -> Converted {
    let mut params = Map::new();
    params.insert("method".into(), json!(p.text("method", "GET")));
    let url = p.text("url", "");
    params.insert("url".into(), json!(url));
    let mut converted_credentials = BTreeMap::new();
    let auth = p.text("authentication", "none");
    match auth.as_str() {
        "none" => {}
        "genericCredentialType" => {
            let kind = p.text("genericAuthType", "");
            let slot_type = match kind.as_str() {
                "httpHeaderAuth" => Some("http-header"),
                "httpBasicAuth" => Some("http-basic"),
                "httpBearerAuth" => Some("http-bearer"),
                _ => None,
            };
            match (slot_type, credential(credentials, &kind)) {
                (Some(t), Some(name)) => {
                    p.note(
                        NoteKind::Credential,
                        format!("credential `{name}` ({kind} in n8n) is referenced in slot `auth`: store a `{t}` credential named `{name}`"),
                    );
                    converted_credentials.insert("auth".to_owned(), name);
                }
                _ => p.note(
                    NoteKind::Partial,
                    format!(
                        "authentication `{kind}` is not mapped; the request is sent without it"
                    ),
                ),
            }
        }
        other => {
            let kind = p.text("nodeCredentialType", other);
            p.note(
                NoteKind::Partial,
                format!("authentication `{kind}` (a predefined n8n credential) is not mapped; the request is sent without it"),
            );
        }
    }
    if p.flag("sendQuery", false) {
        if p.text("specifyQuery", "keypair") == "json" {
            params.insert("query".into(), json_or_text(p.take("jsonQuery")));
        } else {
            params.insert(
                "query".into(),
                Value::Object(pairs(p.take("queryParameters").as_ref(), "parameters")),
            );
        }
    }
    if p.flag("sendHeaders", false) {
        if p.text("specifyHeaders", "keypair") == "json" {
            params.insert("headers".into(), json_or_text(p.take("jsonHeaders")));
        } else {
            params.insert(
                "headers".into(),
                Value::Object(pairs(p.take("headerParameters").as_ref(), "parameters")),
            );
        }
    }
    if p.flag("sendBody", false) {
        let content = p.text("contentType", "json");
        let body = match content.as_str() {
            "json" => {
                if p.text("specifyBody", "keypair") == "json" {
                    Some(json_body(p.take("jsonBody")))
                } else {
                    let fields = ordered_pairs(p.take("bodyParameters").as_ref(), "parameters");
                    // n8n 4+ sets each name as a lodash path (`a.b`, `a[0]`), in order.
                    let body = if version >= 4.0 {
                        nest_paths(fields)
                    } else {
                        Value::Object(fields.into_iter().collect())
                    };
                    Some(json!({ "json": body }))
                }
            }
            "form-urlencoded" => {
                Some(json!({ "form": pairs(p.take("bodyParameters").as_ref(), "parameters") }))
            }
            "raw" => Some(json!({
                "raw": p.take("body").unwrap_or(json!("")),
                "contentType": p.text("rawContentType", "text/plain"),
            })),
            other => {
                p.note(
                    NoteKind::Partial,
                    format!(
                        "body type `{other}` is not mapped; the request is sent without a body"
                    ),
                );
                None
            }
        };
        if let Some(body) = body {
            params.insert("body".into(), body);
        }
    }
    let mut options = p.nested("options");
    let mut response = Map::new();
    if let Some(r) = options.take("response")
        && let Some(r) = r.get("response")
    {
        if r.get("fullResponse") == Some(&json!(true)) {
            response.insert("fullResponse".into(), json!(true));
        }
        if r.get("neverError") == Some(&json!(true)) {
            response.insert("neverError".into(), json!(true));
        }
        match r.get("responseFormat").and_then(Value::as_str) {
            Some("json") => {
                response.insert("format".into(), json!("json"));
            }
            Some("text") => {
                response.insert("format".into(), json!("text"));
            }
            Some("file") => {
                response.insert("format".into(), json!("binary"));
            }
            _ => {}
        }
    }
    if !response.is_empty() {
        params.insert("response".into(), Value::Object(response));
    }
    if let Some(timeout) = options.take("timeout") {
        params.insert("timeoutMs".into(), timeout);
    }
    if let Some(redirect) = options.take("redirect")
        && let Some(follow) = redirect.pointer("/redirect/followRedirects")
    {
        params.insert("followRedirects".into(), follow.clone());
    }
    options.ignore("allowUnauthorizedCerts", "certificates are always checked");
    options.ignore("batching", "items are sent one request each, unbatched");
    options.ignore("proxy", "proxies are not mapped");
    options.ignore("pagination", "pagination is not mapped");
    options.ignore("queryParameterArrays", "arrays repeat the name");
    options.ignore("lowercaseHeaders", "header names are kept as given");
    drop(options);
    p.ignore(
        "provideSslCertificates",
        "client certificates are not mapped",
    );
    let mut converted = Converted::new("builtin:http", Value::Object(params));
    converted.credentials = converted_credentials;
    if let Some(origin) = origin(&url) {
        p.note(
            NoteKind::Changed,
            format!("granted egress to `{origin}`, the origin its URL names"),
        );
        converted.egress.push(origin);
    } else if url.contains("{{") {
        p.note(
            NoteKind::Changed,
            "the URL is an expression: add the origins it may reach under `egress`".into(),
        );
    }
    converted
}

/// n8n's `jsonBody`: fixed JSON text becomes the `json` value; an
/// expression (or text that is not JSON, which fails as in n8n) becomes
/// `jsonText`, which the node parses when it runs.
fn json_body(value: Option<Value>) -> Value {
    match value {
        Some(Value::String(text)) => match serde_json::from_str::<Value>(&text) {
            Ok(parsed) if !text.contains("{{") => json!({ "json": parsed }),
            _ => json!({ "jsonText": text }),
        },
        Some(other) => json!({ "json": other }),
        None => json!({ "jsonText": "" }),
    }
}

/// Key-value body fields set one by one as lodash paths, as n8n 4+ does:
/// `user.name` nests an object, `tags[1]` an array (the missing elements
/// `null`), and a later field replaces a scalar it runs into.
fn nest_paths(fields: Vec<(String, Value)>) -> Value {
    let mut root = Value::Object(Map::new());
    for (name, value) in fields {
        let path = lodash_path(&name);
        if path.is_empty() {
            continue;
        }
        let mut at = &mut root;
        for (i, key) in path.iter().enumerate() {
            let last = i + 1 == path.len();
            let next_is_index = !last && is_index(&path[i + 1]);
            let slot = match at {
                Value::Object(map) => map.entry(key.clone()).or_insert(Value::Null),
                Value::Array(items) => match key.parse::<usize>() {
                    Ok(index) if is_index(key) && index < 10_000 => {
                        if items.len() <= index {
                            items.resize(index + 1, Value::Null);
                        }
                        &mut items[index]
                    }
                    // A named property on an array does not reach JSON in n8n either.
                    _ => break,
                },
                _ => break,
            };
            if last {
                *slot = value.clone();
                break;
            }
            if !slot.is_object() && !slot.is_array() {
                *slot = if next_is_index {
                    Value::Array(Vec::new())
                } else {
                    Value::Object(Map::new())
                };
            }
            at = slot;
        }
    }
    root
}

/// lodash's `toPath`: `a.b[0]["c.d"]` → `a`, `b`, `0`, `c.d`.
fn lodash_path(name: &str) -> Vec<String> {
    if !name.contains(['.', '[']) {
        return vec![name.to_owned()];
    }
    let mut path = Vec::new();
    let mut chars = name.chars().peekable();
    let mut key = String::new();
    if name.starts_with('.') {
        path.push(String::new());
    }
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if !key.is_empty() {
                    path.push(std::mem::take(&mut key));
                }
            }
            '[' => {
                if !key.is_empty() {
                    path.push(std::mem::take(&mut key));
                }
                let quote = chars.next_if(|c| *c == '"' || *c == '\'');
                let mut inner = String::new();
                while let Some(c) = chars.next() {
                    match (c, quote) {
                        ('\\', Some(_)) => inner.extend(chars.next()),
                        (c, Some(q)) if c == q && chars.peek() == Some(&']') => {
                            chars.next();
                            break;
                        }
                        (']', None) => break,
                        (c, _) => inner.push(c),
                    }
                }
                path.push(if quote.is_some() {
                    inner
                } else {
                    inner.trim().to_owned()
                });
            }
            c => key.push(c),
        }
    }
    if !key.is_empty() {
        path.push(key);
    }
    path
}

fn is_index(key: &str) -> bool {
    key == "0"
        || (!key.is_empty() && !key.starts_with('0') && key.bytes().all(|b| b.is_ascii_digit()))
}

/// A JSON parameter: parsed when it is fixed JSON text, kept as text (an
/// expression that yields JSON) otherwise.
fn json_or_text(value: Option<Value>) -> Value {
    match value {
        Some(Value::String(text)) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        Some(other) => other,
        None => json!({}),
    }
}

pub(crate) fn slack(
    p: &mut Taker<'_>,
    version: f64,
    credentials: &Map<String, Value>,
) -> Converted {
    let resource = p.text("resource", "message");
    let operation = p.text("operation", "post");
    if resource != "message" || operation != "post" {
        p.note(
            NoteKind::Partial,
            format!("Slack `{resource}`/`{operation}` is not mapped; only message → post is"),
        );
    }
    let mut params = Map::new();
    let select = p.text("select", "channel");
    let channel = if select == "user" {
        p.take("user")
    } else {
        p.take("channelId")
    };
    if let Some(channel) = channel {
        params.insert("channel".into(), channel);
    }
    let kind = p.text("messageType", "text");
    if let Some(text) = p.take("text") {
        params.insert("text".into(), text);
    }
    if kind == "block" {
        if let Some(blocks) = p.take("blocksUi") {
            let blocks = match blocks {
                Value::String(s) => serde_json::from_str::<Value>(&s)
                    .ok()
                    .and_then(|v| v.get("blocks").cloned())
                    .unwrap_or(Value::String(s)),
                other => other.get("blocks").cloned().unwrap_or(other),
            };
            params.insert("blocks".into(), blocks);
        }
    } else if kind != "text" {
        p.note(
            NoteKind::Partial,
            format!("message type `{kind}` is not mapped; the text is sent"),
        );
    }
    let mut options = p.nested("otherOptions");
    let link = options.flag("includeLinkToWorkflow", version >= 2.1);
    if link {
        options.note(
            NoteKind::Partial,
            "n8n appends \"Automated with this n8n workflow\" to the message; n8n-work does not"
                .into(),
        );
    }
    if let Some(reply) = options.take("thread_ts")
        && let Some(ts) = reply.pointer("/replyValues/thread_ts")
    {
        params.insert("threadTs".into(), ts.clone());
    }
    if let Some(unfurl) = options.take("unfurl_links") {
        params.insert("unfurlLinks".into(), unfurl);
    }
    if let Some(name) = options.take("sendAsUser") {
        params.insert("username".into(), name);
    }
    if let Some(profile) = options.take("botProfile")
        && let Some(emoji) = profile.pointer("/imageValues/icon_emoji")
    {
        params.insert("iconEmoji".into(), emoji.clone());
    }
    drop(options);
    let auth = p.text("authentication", "accessToken");
    let n8n_kind = if auth == "oAuth2" {
        "slackOAuth2Api"
    } else {
        "slackApi"
    };
    let mut converted = Converted::new("builtin:slack", Value::Object(params));
    if let Some(name) = credential(credentials, n8n_kind) {
        p.note(
            NoteKind::Credential,
            format!("credential `{name}` ({n8n_kind} in n8n) is referenced in slot `slack`: store a `slack-bot-token` credential named `{name}`"),
        );
        converted.credentials.insert("slack".into(), name);
    }
    converted.egress = vec!["https://slack.com".into(), "https://hooks.slack.com".into()];
    converted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lodash_paths_split_dots_and_brackets() {
        assert_eq!(lodash_path("a"), ["a"]);
        assert_eq!(lodash_path("a.b[0].c"), ["a", "b", "0", "c"]);
        assert_eq!(lodash_path("a[\"x.y\"]"), ["a", "x.y"]);
        assert_eq!(lodash_path("a[ 1 ]"), ["a", "1"]);
    }

    #[test]
    fn key_value_fields_nest_as_n8n_sets_them() {
        let fields: Vec<(String, Value)> = [
            ("seq", json!("{{ $json.seq }}")),
            ("user.name", json!("Ada")),
            ("user.tags[1]", json!("x")),
            ("plain", json!(1)),
            ("plain.inner", json!(2)),
            ("later.wins", json!(1)),
            ("later", json!(3)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(
            nest_paths(fields),
            json!({
                "seq": "{{ $json.seq }}",
                "user": {"name": "Ada", "tags": [null, "x"]},
                "plain": {"inner": 2},
                "later": 3
            })
        );
    }

    #[test]
    fn json_body_text_is_parsed_when_fixed_and_kept_when_an_expression() {
        assert_eq!(
            json_body(Some(json!("{\"a\": 1}"))),
            json!({"json": {"a": 1}})
        );
        assert_eq!(
            json_body(Some(json!("{{ JSON.stringify({ a: 1 }) }}"))),
            json!({"jsonText": "{{ JSON.stringify({ a: 1 }) }}"})
        );
        assert_eq!(
            json_body(Some(json!("{a: 1}"))),
            json!({"jsonText": "{a: 1}"})
        );
        assert_eq!(json_body(Some(json!({"a": 1}))), json!({"json": {"a": 1}}));
    }
}
