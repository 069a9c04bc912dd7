//! What a step produced.

use std::time::Duration;

use crate::Item;
use crate::bindings::n8n_work::node::types as wit;

/// The port every node has unless its spec names others.
pub(crate) const MAIN_PORT: &str = "main";

/// The items a node emits on one output port.
#[derive(Debug, Clone, PartialEq)]
pub struct PortItems {
    /// The port's name, as declared with [`crate::Spec::output`].
    pub port: String,
    /// The items it emits.
    pub items: Vec<Item>,
}

/// What a step produced: items per output port, or a request to be polled
/// again later.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Finished: items per output port. Ports not listed emit nothing.
    Done(Vec<PortItems>),
    /// Not finished yet: the host calls `execute` again after `after` with
    /// `state` in [`crate::Context::resume`].
    Pending {
        /// How long the host waits before it polls again.
        after: Duration,
        /// Handed back in [`crate::Context::resume`].
        state: Vec<u8>,
    },
}

impl Outcome {
    /// Finished, with nothing emitted yet; add ports with [`Outcome::port`].
    pub fn done() -> Self {
        Outcome::Done(Vec::new())
    }

    /// Finished, with `items` on the `main` port.
    pub fn main(items: Vec<Item>) -> Self {
        Outcome::done().port(MAIN_PORT, items)
    }

    /// This outcome with `items` added on port `name` (appended when the port
    /// is already listed). A pending outcome becomes a finished one.
    pub fn port(self, name: impl Into<String>, items: Vec<Item>) -> Self {
        let name = name.into();
        let mut ports = match self {
            Outcome::Done(ports) => ports,
            Outcome::Pending { .. } => Vec::new(),
        };
        match ports.iter_mut().find(|port| port.port == name) {
            Some(port) => port.items.extend(items),
            None => ports.push(PortItems { port: name, items }),
        }
        Outcome::Done(ports)
    }

    /// Not finished: poll again after `after`, handing `state` back.
    pub fn pending(after: Duration, state: Vec<u8>) -> Self {
        Outcome::Pending { after, state }
    }

    /// The items emitted on port `name`, if the outcome is finished and lists
    /// it.
    pub fn items(&self, name: &str) -> Option<&[Item]> {
        match self {
            Outcome::Done(ports) => ports
                .iter()
                .find(|port| port.port == name)
                .map(|port| port.items.as_slice()),
            Outcome::Pending { .. } => None,
        }
    }
}

impl From<Outcome> for wit::Outcome {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Done(ports) => wit::Outcome::Done(
                ports
                    .into_iter()
                    .map(|port| wit::PortItems {
                        port: port.port,
                        items: port.items.into_iter().map(Into::into).collect(),
                    })
                    .collect(),
            ),
            Outcome::Pending { after, state } => wit::Outcome::Pending(wit::Pending {
                poll_after_ms: u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
                state,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ports_are_listed_in_the_order_added_and_merged_by_name() {
        let a = Item::new(json!({"a": 1}));
        let b = Item::new(json!({"b": 2}));
        let outcome = Outcome::done()
            .port("true", vec![a.clone()])
            .port("false", vec![b.clone()])
            .port("true", vec![b.clone()]);
        assert_eq!(outcome.items("true"), Some(&[a, b.clone()][..]));
        assert_eq!(outcome.items("false"), Some(&[b][..]));
        let wit::Outcome::Done(ports) = wit::Outcome::from(outcome) else {
            panic!("expected a finished outcome");
        };
        let names: Vec<_> = ports.iter().map(|port| port.port.as_str()).collect();
        assert_eq!(names, ["true", "false"]);
        assert_eq!(ports[0].items[1].json, r#"{"b":2}"#);
    }

    #[test]
    fn main_emits_on_the_main_port() {
        let outcome = Outcome::main(vec![Item::default()]);
        assert_eq!(outcome.items("main").map(<[Item]>::len), Some(1));
    }

    #[test]
    fn pending_converts_to_milliseconds() {
        let outcome = Outcome::pending(Duration::from_millis(1500), b"cursor".to_vec());
        let wit::Outcome::Pending(pending) = outcome.into() else {
            panic!("expected a pending outcome");
        };
        assert_eq!(pending.poll_after_ms, 1500);
        assert_eq!(pending.state, b"cursor");
    }
}
