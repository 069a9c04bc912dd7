//! W2's component: `{"name": "Ada"}` in, `{"greeting": "hello Ada"}` out,
//! as an n8n-work node and as a `wasi:http` handler.

use n8n_work_sdk::{Context, Item, Node, NodeError, Outcome, Spec, export_node};
use serde_json::{Map, Value, json};

/// The work both roles do.
fn greet(input: &Value) -> Value {
    let name = input.get("name").and_then(Value::as_str).unwrap_or("world");
    json!({ "greeting": format!("hello {name}") })
}

/// The node.
struct Greet;

impl Node for Greet {
    type Params = Map<String, Value>;

    fn spec() -> Spec {
        Spec::new("greet", "Greet").description("Answers {name} with a greeting (W2).")
    }

    fn execute(_ctx: &Context<Self::Params>, items: Vec<Item>) -> Result<Outcome, NodeError> {
        let out = items
            .iter()
            .map(|item| {
                let body = item.json.get("body").cloned().unwrap_or(Value::Null);
                Item::new(greet(&body))
            })
            .collect();
        Ok(Outcome::main(out))
    }
}

export_node!(Greet);

#[allow(unsafe_code, missing_docs, clippy::all)]
mod http {
    wit_bindgen::generate!({
        path: ["../../../wit", "wit"],
        world: "n8n-work:bench-w2/w2-http",
        generate_all,
    });

    use exports::wasi::http::incoming_handler::Guest;
    use wasi::http::types::{
        Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
    };

    struct Handler;

    impl Guest for Handler {
        fn handle(request: IncomingRequest, out: ResponseOutparam) {
            let mut body = Vec::new();
            if let Ok(incoming) = request.consume()
                && let Ok(stream) = incoming.stream()
            {
                while let Ok(chunk) = stream.blocking_read(64 * 1024) {
                    body.extend_from_slice(&chunk);
                }
            }
            let input = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            let answer = super::greet(&input).to_string();
            let headers = Fields::new();
            let _ = headers.set("content-type", &[b"application/json".to_vec()]);
            let response = OutgoingResponse::new(headers);
            let Ok(outgoing) = response.body() else {
                return;
            };
            ResponseOutparam::set(out, Ok(response));
            if let Ok(stream) = outgoing.write() {
                let _ = stream.blocking_write_and_flush(answer.as_bytes());
                drop(stream);
            }
            let _ = OutgoingBody::finish(outgoing, None);
        }
    }

    export!(Handler);
}
