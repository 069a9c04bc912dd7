//! The HTTP Request node: one request per input item over `wasi:http`.
//!
//! A built-in integration node, run by the host's runtime stage like any
//! other component. The principal type is `HttpRequest`; its parameters
//! (`method`, `url`, `query`, `headers`, `body`, `response`, `timeoutMs`,
//! `followRedirects`, `maxResponseBytes`, `newItemsOnly`) are documented in
//! the JSON Schema its spec carries. The egress grant comes from the `url`
//! parameter, and the optional `auth` credential adds a bearer token, basic
//! auth or a header. Each request carries the step's `Idempotency-Key`
//! unless the params set one. With `newItemsOnly`, the node polls: it emits
//! only items no earlier run of it emitted, remembered in its node state.

mod auth;
mod params;
mod response;

use std::time::Duration;

use n8n_work_sdk::http::Request;
use n8n_work_sdk::{
    Context, CredentialSlot, Item, Node, NodeError, Outcome, Spec, binary, export_node, log, poll,
};

use auth::Auth;
use params::{BodyKind, Params, form_value, header_value, invalid, query_values};

/// The HTTP Request node.
struct HttpRequest;

impl Node for HttpRequest {
    type Params = Params;

    fn spec() -> Spec {
        Spec::new("http", "HTTP Request")
            .version(env!("CARGO_PKG_VERSION"))
            .description("Calls an HTTP API once per input item and turns the response into items.")
            .icon("globe")
            .credential(
                CredentialSlot::new(auth::SLOT, &auth::TYPES).description(
                    "Bearer token, basic auth or a custom header sent with each request",
                ),
            )
            .egress("param:url", "The URL the node calls")
    }

    fn execute(ctx: &Context<Params>, items: Vec<Item>) -> Result<Outcome, NodeError> {
        let params = &ctx.params;
        let body = params.body.as_ref().map(params::Body::kind).transpose()?;
        let auth = ctx
            .credential_opt(auth::SLOT)
            .map(|credential| Auth::from_credential(&credential))
            .transpose()?;
        let secrets = auth.as_ref().map(Auth::secrets).unwrap_or_default();

        let inputs: Vec<Option<&Item>> = if items.is_empty() {
            vec![None]
        } else {
            items.iter().map(Some).collect()
        };
        let several = inputs.len() > 1;
        let mut output = Vec::new();
        for (index, item) in inputs.into_iter().enumerate() {
            // The same key on every retry and crash re-run of this request,
            // so vendors that honour `Idempotency-Key` apply it once.
            let key = if several {
                format!("{}/{index}", ctx.idempotency_key)
            } else {
                ctx.idempotency_key.clone()
            };
            let produced = call(params, body.as_ref(), auth.as_ref(), &secrets, item, &key)
                .map_err(|mut err| {
                    if several {
                        err.message = format!("item {index}: {}", err.message);
                    }
                    err
                })?;
            output.extend(produced);
        }
        if let Some(only) = &params.new_items_only {
            output = poll::new_items(output, |item| poll::key_at(item, &only.key), only.remember)?;
        }
        Ok(Outcome::main(output))
    }
}

export_node!(HttpRequest);

/// Makes the request for one input item (or for none) and returns its items.
fn call(
    params: &Params,
    body: Option<&BodyKind<'_>>,
    auth: Option<&Auth>,
    secrets: &[String],
    item: Option<&Item>,
    idempotency_key: &str,
) -> Result<Vec<Item>, NodeError> {
    let mut request = Request::new(params.method.as_str(), params.url.as_str());
    for (name, value) in &params.query {
        for text in query_values(name, value)? {
            request = request.query(name, &text);
        }
    }
    for (name, value) in &params.headers {
        request = request.header(name, &header_value(name, value)?);
    }
    if !idempotency_key.is_empty()
        && !params
            .headers
            .keys()
            .any(|name| name.eq_ignore_ascii_case("idempotency-key"))
    {
        request = request.header("Idempotency-Key", idempotency_key);
    }
    if let Some(auth) = auth {
        request = auth.apply(request);
    }
    if let Some(body) = body {
        request = with_body(request, params, body, item)?;
    }
    if params.timeout_ms > 0 {
        request = request.timeout(Duration::from_millis(params.timeout_ms));
    }
    if !params.follow_redirects {
        request = request.max_redirects(0);
    }
    if let Some(max) = params.max_response_bytes {
        request = request.max_response_bytes(max);
    }

    let response = request.send().map_err(|err| {
        let mut err = NodeError::from(err);
        err.message = auth::redact(&err.message, secrets);
        err
    })?;
    log::debug!(
        "{} {} answered {} ({} bytes)",
        response.method,
        response.url,
        response.status,
        response.body.len()
    );

    let accepted = response.is_success()
        || (!params.follow_redirects && (300..400).contains(&response.status));
    if !accepted && !params.response.never_error {
        return Err(response::status_error(&response, secrets));
    }
    let full = params.response.full_response || !accepted;
    response::items(&response, &params.response, full)
}

/// `request` with the body the parameters ask for.
fn with_body(
    request: Request,
    params: &Params,
    body: &BodyKind<'_>,
    item: Option<&Item>,
) -> Result<Request, NodeError> {
    let has_content_type = params
        .headers
        .keys()
        .any(|name| name.eq_ignore_ascii_case("content-type"));
    let content_type = params
        .body
        .as_ref()
        .and_then(|body| body.content_type.as_deref());
    let typed = |request: Request, default: &str| match content_type {
        Some(content_type) => request.header("Content-Type", content_type),
        None if has_content_type => request,
        None => request.header("Content-Type", default),
    };
    Ok(match body {
        BodyKind::Json(value) => request.json(value.as_ref()),
        BodyKind::Form(fields) => {
            let pairs: Vec<(&str, String)> = fields
                .iter()
                .map(|(name, value)| (name.as_str(), form_value(value)))
                .collect();
            request.form(&pairs)
        }
        BodyKind::Raw(text) => typed(request.body(text.as_bytes()), "text/plain; charset=utf-8"),
        BodyKind::Binary(name) => {
            let item = item.ok_or_else(|| {
                invalid(&format!(
                    "parameter `body.binaryProperty` names binary `{name}`, but the node has no \
                     input items; connect a node that outputs it"
                ))
            })?;
            let binary = item.binary.get(*name).ok_or_else(|| {
                let known: Vec<&str> = item.binary.keys().map(String::as_str).collect();
                invalid(&format!(
                    "parameter `body.binaryProperty`: the input item has no binary `{name}` \
                     (it has: {}); name one it has",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ))
            })?;
            let bytes = binary::read_all(binary)?;
            let mime_type = binary.mime_type.clone();
            typed(request.body(bytes), &mime_type)
        }
    })
}
