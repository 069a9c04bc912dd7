//! {{display}}: an n8n-work node. It greets each input item by its `name`.
//!
//! `n8n-work node build` compiles it to a wasm component (dist/node.wasm),
//! `n8n-work node test` runs the unit tests below and the cases in
//! tests/cases.json through the real runtime.

use schemars::JsonSchema;
use serde::Deserialize;

use n8n_work_sdk::{Context, Item, Node, NodeError, Outcome, Spec, export_node};

/// The node's parameters.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Params {
    /// How to greet.
    #[serde(default = "default_greeting")]
    greeting: String,
}

fn default_greeting() -> String {
    "Hello".to_owned()
}

struct {{type_name}};

impl Node for {{type_name}} {
    type Params = Params;

    fn spec() -> Spec {
        Spec::new("{{name}}", "{{display}}")
            .version(env!("CARGO_PKG_VERSION"))
            .description("Greets each item by its `name`.")
    }

    fn execute(ctx: &Context<Params>, items: Vec<Item>) -> Result<Outcome, NodeError> {
        let items = items
            .into_iter()
            .map(|mut item| {
                let name = item.json.get("name").and_then(|v| v.as_str()).unwrap_or("world");
                let message = greet(&ctx.params.greeting, name);
                item.json.insert("message".to_owned(), message.into());
                item
            })
            .collect();
        Ok(Outcome::main(items))
    }
}

export_node!({{type_name}});

fn greet(greeting: &str, name: &str) -> String {
    format!("{greeting}, {name}!")
}

#[cfg(test)]
mod tests {
    #[test]
    fn greets_by_name() {
        assert_eq!(super::greet("Hi", "Ada"), "Hi, Ada!");
    }
}
