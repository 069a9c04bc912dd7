//! Turning a response into items, or into an error.

use serde_json::{Map, Value, json};

use n8n_work_sdk::http::Response;
use n8n_work_sdk::{Item, NodeError, binary};

use crate::auth::redact;
use crate::params::{Format, ResponseOptions};

/// How many characters of a failed response's body its error shows.
const SNIPPET_CHARS: usize = 200;

/// A response body, read as its format says.
#[derive(Debug, PartialEq)]
enum Body {
    Json(Value),
    Text(String),
    Binary(n8n_work_sdk::BinaryRef),
}

/// The error for a status the node does not accept, such as
/// `GET https://x/y answered 404 Not Found: <body>`. Retryable for 408, 429
/// and 5xx, after `Retry-After` seconds when the server said.
pub(crate) fn status_error(response: &Response, secrets: &[String]) -> NodeError {
    let mut message = format!(
        "{} {} answered {}",
        response.method, response.url, response.status
    );
    if !response.reason().is_empty() {
        message.push(' ');
        message.push_str(response.reason());
    }
    let snippet = snippet(&response.text());
    if !snippet.is_empty() {
        message.push_str(": ");
        message.push_str(&snippet);
    }
    let message = redact(&message, secrets);
    let retryable = matches!(response.status, 408 | 429 | 500..=599);
    let mut error = if retryable {
        NodeError::retryable(message)
    } else {
        NodeError::fatal(message)
    };
    if retryable && let Some(wait) = response.retry_after() {
        error = error.retry_after(wait);
    }
    error.with_code(format!("http_{}", response.status))
}

/// The first characters of `text`, on one line.
fn snippet(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(SNIPPET_CHARS)
        .collect()
}

/// The items a response becomes. `full` wraps the body as
/// `{statusCode, headers, body}`.
pub(crate) fn items(
    response: &Response,
    options: &ResponseOptions,
    full: bool,
) -> Result<Vec<Item>, NodeError> {
    let body = read(response, options.format)?;
    if full {
        return Ok(vec![full_item(response, body)]);
    }
    Ok(match body {
        Body::Json(Value::Object(object)) => vec![Item::from(object)],
        Body::Json(Value::Array(values)) if options.split => {
            values.into_iter().map(Item::new).collect()
        }
        Body::Json(value) => vec![Item::new(json!({ "data": value }))],
        Body::Text(text) => vec![Item::new(json!({ "data": text }))],
        Body::Binary(binary) => vec![Item::new(binary_json(&binary)).with_binary("data", binary)],
    })
}

fn full_item(response: &Response, body: Body) -> Item {
    let mut headers = Map::new();
    for (name, value) in &response.headers {
        let name = name.to_ascii_lowercase();
        match headers.get_mut(&name) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(value);
            }
            _ => {
                headers.insert(name, Value::String(value.clone()));
            }
        }
    }
    let (body, binary) = match body {
        Body::Json(value) => (value, None),
        Body::Text(text) => (Value::String(text), None),
        Body::Binary(binary) => (binary_json(&binary), Some(binary)),
    };
    let item = Item::new(json!({
        "statusCode": response.status,
        "headers": headers,
        "body": body,
    }));
    match binary {
        Some(binary) => item.with_binary("data", binary),
        None => item,
    }
}

fn binary_json(binary: &n8n_work_sdk::BinaryRef) -> Value {
    let mut json = json!({ "mimeType": binary.mime_type, "size": binary.size });
    if let Some(name) = &binary.file_name {
        json["fileName"] = Value::String(name.clone());
    }
    json
}

/// Reads the body as `format` says; `auto` goes by `Content-Type`.
fn read(response: &Response, format: Format) -> Result<Body, NodeError> {
    let content_type = response.header("content-type").unwrap_or_default();
    match format {
        Format::Json => parse_json(response).map(Body::Json),
        Format::Text => Ok(Body::Text(response.text())),
        Format::Binary => store_binary(response, content_type).map(Body::Binary),
        Format::Auto => Ok(match detect(content_type, &response.body) {
            Format::Json => parse_json(response)
                .map(Body::Json)
                .unwrap_or_else(|_| Body::Text(response.text())),
            Format::Binary => Body::Binary(store_binary(response, content_type)?),
            _ => Body::Text(response.text()),
        }),
    }
}

/// The format `auto` picks for a body of type `content_type`.
fn detect(content_type: &str, body: &[u8]) -> Format {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if body.is_empty() {
        return Format::Text;
    }
    if essence == "application/json" || essence.ends_with("+json") || essence.ends_with("/json") {
        return Format::Json;
    }
    let textual = essence.starts_with("text/")
        || essence.ends_with("+xml")
        || matches!(
            essence.as_str(),
            "application/xml"
                | "application/javascript"
                | "application/ecmascript"
                | "application/x-www-form-urlencoded"
                | "application/yaml"
                | "application/x-yaml"
                | "application/graphql"
        );
    if textual || (essence.is_empty() && std::str::from_utf8(body).is_ok()) {
        Format::Text
    } else {
        Format::Binary
    }
}

fn parse_json(response: &Response) -> Result<Value, NodeError> {
    if response.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&response.body).map_err(|err| {
        NodeError::fatal(format!(
            "{} {} answered {} with a body that is not JSON ({err}); set `response.format` to \
             `text` or `auto`",
            response.method, response.url, response.status
        ))
        .with_code("invalid_response")
    })
}

fn store_binary(
    response: &Response,
    content_type: &str,
) -> Result<n8n_work_sdk::BinaryRef, NodeError> {
    let mime_type = if content_type.trim().is_empty() {
        "application/octet-stream"
    } else {
        content_type.trim()
    };
    let file_name = file_name(response);
    binary::write(&response.body, mime_type, file_name.as_deref())
}

/// The file name from `Content-Disposition`, or else the URL's last path
/// segment when it looks like one.
fn file_name(response: &Response) -> Option<String> {
    if let Some(disposition) = response.header("content-disposition") {
        for part in disposition.split(';').map(str::trim) {
            if let Some(value) = part.strip_prefix("filename*=") {
                // RFC 5987: charset'language'percent-encoded
                let encoded = value.rsplit('\'').next().unwrap_or(value);
                if let Some(name) = percent_decode(encoded) {
                    return Some(name);
                }
            }
        }
        for part in disposition.split(';').map(str::trim) {
            if let Some(value) = part.strip_prefix("filename=") {
                let name = value.trim_matches('"');
                if !name.is_empty() {
                    return Some(name.to_owned());
                }
            }
        }
    }
    let path = response.url.split(['?', '#']).next().unwrap_or_default();
    let after_host = path.splitn(4, '/').nth(3).unwrap_or_default();
    after_host
        .rsplit('/')
        .next()
        .filter(|segment| segment.contains('.'))
        .and_then(percent_decode)
}

/// `text` with `%XX` escapes decoded; a `%` that starts no escape stays.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = bytes
            .get(index + 1..index + 3)
            .filter(|_| bytes[index] == b'%')
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                index += 3;
            }
            None => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8(out).ok().filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, content_type: &str, body: &str) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.as_bytes().to_vec(),
            method: "GET".into(),
            url: "http://127.0.0.1:8080/x".into(),
        }
    }

    fn options(split: bool) -> ResponseOptions {
        ResponseOptions {
            split,
            ..ResponseOptions::default()
        }
    }

    fn jsons(items: &[Item]) -> Vec<Value> {
        items
            .iter()
            .map(|item| Value::Object(item.json.clone()))
            .collect()
    }

    #[test]
    fn json_object_becomes_the_item() {
        let items = items(
            &response(200, "application/json", r#"{"a":1}"#),
            &options(true),
            false,
        )
        .unwrap();
        assert_eq!(jsons(&items), [json!({"a": 1})]);
    }

    #[test]
    fn json_array_is_split_and_scalars_wrapped() {
        let body = r#"[{"a":1}, 2, "x"]"#;
        let items = items(
            &response(200, "application/json; charset=utf-8", body),
            &options(true),
            false,
        )
        .unwrap();
        assert_eq!(
            jsons(&items),
            [json!({"a": 1}), json!({"value": 2}), json!({"value": "x"})]
        );
        let items = super::items(
            &response(200, "application/json", body),
            &options(false),
            false,
        )
        .unwrap();
        assert_eq!(jsons(&items), [json!({"data": [{"a": 1}, 2, "x"]})]);
    }

    #[test]
    fn text_becomes_data_and_bad_json_falls_back_to_text_in_auto() {
        let items = items(
            &response(200, "text/html", "<p>hi</p>"),
            &options(true),
            false,
        )
        .unwrap();
        assert_eq!(jsons(&items), [json!({"data": "<p>hi</p>"})]);
        let items = super::items(
            &response(200, "application/json", "{oops"),
            &options(true),
            false,
        )
        .unwrap();
        assert_eq!(jsons(&items), [json!({"data": "{oops"})]);
    }

    #[test]
    fn explicit_json_format_refuses_a_body_that_is_not_json() {
        let options = ResponseOptions {
            format: Format::Json,
            ..ResponseOptions::default()
        };
        let err = items(&response(200, "text/plain", "hello"), &options, false).unwrap_err();
        assert_eq!(err.code.as_deref(), Some("invalid_response"));
        assert!(
            err.message
                .starts_with("GET http://127.0.0.1:8080/x answered 200 with a body")
        );
    }

    #[test]
    fn full_response_wraps_status_headers_and_body() {
        let items = items(
            &response(404, "application/json", r#"{"e":1}"#),
            &options(true),
            true,
        )
        .unwrap();
        assert_eq!(
            jsons(&items),
            [
                json!({"statusCode": 404, "headers": {"content-type": "application/json"}, "body": {"e": 1}})
            ]
        );
    }

    #[test]
    fn status_error_names_method_url_status_and_body_start() {
        let long = format!("not\nhere {}", "y".repeat(300));
        let err = status_error(&response(404, "text/plain", &long), &[]);
        assert_eq!(err.code.as_deref(), Some("http_404"));
        assert!(!err.retryable);
        let expected = format!(
            "GET http://127.0.0.1:8080/x answered 404 Not Found: not here {}",
            "y".repeat(191)
        );
        assert_eq!(err.message, expected);
    }

    #[test]
    fn throttling_and_server_errors_are_retryable_after_retry_after() {
        let mut throttled = response(429, "text/plain", "");
        throttled.headers.push(("retry-after".into(), "12".into()));
        let err = status_error(&throttled, &[]);
        assert!(err.retryable);
        assert_eq!(err.retry_after, Some(std::time::Duration::from_secs(12)));
        assert_eq!(
            err.message,
            "GET http://127.0.0.1:8080/x answered 429 Too Many Requests"
        );
        assert!(status_error(&response(503, "", ""), &[]).retryable);
        assert!(status_error(&response(408, "", ""), &[]).retryable);
        assert!(!status_error(&response(401, "", ""), &[]).retryable);
    }

    #[test]
    fn status_error_redacts_echoed_credentials() {
        let echoed = response(
            400,
            "application/json",
            r#"{"authorization":"Bearer s3cr3t-token"}"#,
        );
        let err = status_error(&echoed, &["s3cr3t-token".to_owned()]);
        assert!(!err.message.contains("s3cr3t"), "{}", err.message);
    }

    #[test]
    fn auto_detects_binary_and_text() {
        assert_eq!(detect("image/png", b"\x89PNG"), Format::Binary);
        assert_eq!(detect("application/problem+json", b"{}"), Format::Json);
        assert_eq!(detect("application/xml", b"<a/>"), Format::Text);
        assert_eq!(detect("", b"plain"), Format::Text);
        assert_eq!(detect("", b"\xff\xfe"), Format::Binary);
        assert_eq!(detect("image/png", b""), Format::Text);
    }

    #[test]
    fn file_name_comes_from_disposition_or_url() {
        let mut with_disposition = response(200, "application/pdf", "x");
        with_disposition.headers.push((
            "content-disposition".into(),
            r#"attachment; filename="report.pdf""#.into(),
        ));
        assert_eq!(file_name(&with_disposition).as_deref(), Some("report.pdf"));
        with_disposition.headers[1].1 = "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf".into();
        assert_eq!(file_name(&with_disposition).as_deref(), Some("résumé.pdf"));
        let mut from_url = response(200, "image/png", "x");
        from_url.url = "https://cdn.example.com/img/logo%20big.png?v=2".into();
        assert_eq!(file_name(&from_url).as_deref(), Some("logo big.png"));
        from_url.url = "https://cdn.example.com/100%.txt".into();
        assert_eq!(file_name(&from_url).as_deref(), Some("100%.txt"));
        from_url.url = "https://cdn.example.com/download".into();
        assert_eq!(file_name(&from_url), None);
    }
}
