//! The workflow format: the first stage of the data flow, before the store
//! and the engine. It reads workflows from YAML or JSON, validates them
//! against the installed nodes, and compiles them once per version into a
//! plan the engine runs. It does no I/O.
//!
//! The principal type in this crate is [`Workflow`], read with
//! [`Workflow::from_yaml`] or [`Workflow::from_json`]; errors are
//! [`ParseError`]s with a path (`nodes[2].params.url`) and a [`Location`].
//! [`validate`] checks a workflow against a [`NodeCatalog`] and returns
//! [`ValidationError`]s; [`Plan::compile`] turns it into a [`Plan`], where
//! nodes sit in a `Vec` indexed by [`NodeIndex`] and parameter strings are
//! pre-split into [`Template`]s.
//!
//! ```
//! let workflow = n8n_work_model::Workflow::from_yaml(
//!     "name: hello\nnodes:\n  - id: start\n    type: manual\n",
//! )
//! .unwrap();
//! assert_eq!(workflow.nodes[0].id, "start");
//! ```

mod plan;
mod source;
mod template;
mod validate;
mod workflow;

pub use plan::{Edge, NodeIndex, ParamTemplate, Plan, PlanNode};
pub use source::{DocumentLimit, Location, Path, PathSegment, SourceMap};
pub use template::{Part, Template, TemplateError};
pub use validate::{
    ComponentSpec, NodeCatalog, ValidationError, forbidden_response_header, output_ports, validate,
};
pub use workflow::{
    Backoff, Connection, ControlKind, ExecutionOrder, MAIN_PORT, Node, NodeType, NodeTypeError,
    OnError, ParseError, PortName, Position, Retention, RetryPolicy, Settings, Workflow,
    json_schema,
};
