//! The Rust SDK for n8n-work nodes.
//!
//! Every integration node is a WebAssembly component that implements the
//! `n8n-work:node/node` world (`wit/node.wit`); the host's runtime stage runs
//! it in a wasmtime sandbox. The principal type in this crate is the [`Node`]
//! trait: implement it for a type and hand that type to [`export_node!`], and
//! the SDK takes care of the rest of the contract: it parses the parameters
//! into [`Node::Params`], fills the spec's parameter schema from them,
//! converts [`Item`]s, [`Outcome`]s and [`NodeError`]s to and from their WIT
//! forms, and reports bad parameters with the path that is wrong.
//!
//! Host capabilities are plain modules: [`log`], [`state`] (and [`poll`],
//! which keeps in it what a polling node has emitted), [`binary`],
//! credentials through [`Context::credential`], and [`http`], a blocking
//! client over `wasi:http` (the only way out of the sandbox).
//!
//! ```no_run
//! use n8n_work_sdk::{export_node, Context, Item, Node, NodeError, Outcome, Spec};
//! use serde::Deserialize;
//!
//! /// Parameters of the greeting node.
//! #[derive(Deserialize, schemars::JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct Params {
//!     /// Who to greet.
//!     name: String,
//! }
//!
//! struct Hello;
//!
//! impl Node for Hello {
//!     type Params = Params;
//!
//!     fn spec() -> Spec {
//!         Spec::new("hello", "Hello").description("Says hello.")
//!     }
//!
//!     fn execute(ctx: &Context<Params>, _items: Vec<Item>) -> Result<Outcome, NodeError> {
//!         let greeting = format!("Hello, {}!", ctx.params.name);
//!         Ok(Outcome::main(vec![Item::new(serde_json::json!({ "greeting": greeting }))]))
//!     }
//! }
//!
//! export_node!(Hello);
//! ```

pub mod binary;
mod context;
mod error;
#[cfg(all(feature = "harness", not(target_arch = "wasm32")))]
pub mod harness;
mod host;
pub mod http;
mod item;
pub mod log;
mod outcome;
mod params;
pub mod poll;
mod spec;
pub mod state;

/// Bindings generated from `wit/node.wit` by `wit-bindgen`.
///
/// Node authors rarely need them: the SDK's own types cover the contract.
/// They are public so that [`export_node!`] can reach them from a node's
/// crate, and for the rare node that needs a WASI interface directly.
#[allow(unsafe_code, missing_docs, unreachable_pub, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "n8n-work:node/node",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "export_node_world",
        default_bindings_module: "n8n_work_sdk::bindings",
    });
}

pub use context::Context;
pub use error::NodeError;
pub use item::{BinaryRef, Item};
pub use outcome::{Outcome, PortItems};
pub use spec::{CredentialSlot, EgressNeed, OutputPort, Spec};

pub use schemars;
pub use serde_json;

/// A node: its spec and what it does with one step's items.
///
/// Implement it for a unit struct and export that struct with
/// [`export_node!`].
pub trait Node {
    /// The node's parameters. The host evaluates expressions first, then the
    /// SDK deserializes the resulting JSON into this type; a failure is
    /// reported to the user as an `invalid_params` error naming the
    /// parameter. Its JSON Schema becomes the spec's `params_schema` unless
    /// [`Spec::params_schema`] sets one.
    type Params: serde::de::DeserializeOwned + schemars::JsonSchema;

    /// What the node is. Must not do I/O: the host may call it at any time.
    fn spec() -> Spec;

    /// Runs one step over the input items.
    fn execute(ctx: &Context<Self::Params>, items: Vec<Item>) -> Result<Outcome, NodeError>;
}

/// Exports a [`Node`] as the component's `describe` and `execute`.
///
/// Use it once per crate, at the top level of a `cdylib`:
///
/// ```ignore
/// n8n_work_sdk::export_node!(Hello);
/// ```
#[macro_export]
macro_rules! export_node {
    ($ty:ty) => {
        #[doc(hidden)]
        struct __N8nWorkExportedNode;

        impl $crate::bindings::Guest for __N8nWorkExportedNode {
            fn describe() -> $crate::bindings::NodeSpec {
                $crate::__private::describe::<$ty>()
            }

            fn execute(
                ctx: $crate::bindings::Context,
                items: ::std::vec::Vec<$crate::bindings::Item>,
            ) -> ::core::result::Result<$crate::bindings::Outcome, $crate::bindings::NodeError>
            {
                $crate::__private::execute::<$ty>(ctx, items)
            }
        }

        $crate::bindings::export_node_world!(__N8nWorkExportedNode with_types_in $crate::bindings);
    };
}

/// What [`export_node!`] expands to calls; not part of the public API.
#[doc(hidden)]
pub mod __private {
    use crate::bindings;
    use crate::{Context, Item, Node, NodeError, Outcome, params};

    /// The node's spec in its WIT form, with the parameter schema filled in.
    pub fn describe<N: Node>() -> bindings::NodeSpec {
        N::spec().with_schema_of::<N::Params>().into()
    }

    /// Runs [`Node::execute`] on WIT values.
    pub fn execute<N: Node>(
        ctx: bindings::Context,
        items: Vec<bindings::Item>,
    ) -> Result<bindings::Outcome, bindings::NodeError> {
        run::<N>(ctx, items).map(Into::into).map_err(Into::into)
    }

    fn run<N: Node>(
        ctx: bindings::Context,
        items: Vec<bindings::Item>,
    ) -> Result<Outcome, NodeError> {
        let raw_params = params::parse_raw(&ctx.params)?;
        let params = params::deserialize::<N::Params>(&raw_params)?;
        let items = items
            .into_iter()
            .enumerate()
            .map(|(index, item)| Item::from_wit(item, index))
            .collect::<Result<Vec<_>, _>>()?;
        let ctx = Context {
            params,
            raw_params,
            workflow_id: ctx.workflow_id,
            execution_id: ctx.execution_id,
            node_id: ctx.node_id,
            idempotency_key: ctx.idempotency_key,
            attempt: ctx.attempt,
            resume: ctx.resume,
        };
        N::execute(&ctx, items)
    }
}
