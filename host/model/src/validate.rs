//! Checking a workflow against the nodes it names: types, ids,
//! connections, ports, cycles, credentials and egress grants.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use crate::source::{Location, Path};
use crate::template::Template;
use crate::workflow::{ControlKind, MAIN_PORT, Node, NodeType, OnError, Workflow};

/// What validation needs to know about a component node, from its
/// `describe()` (the runtime's `NodeSpec`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ComponentSpec {
    /// Output port names.
    pub outputs: Vec<String>,
    /// Credential slots: name and whether it is required.
    pub credentials: Vec<(String, bool)>,
    /// Egress needs: a grant pattern or `param:<name>`, with the reason.
    pub egress: Vec<(String, String)>,
}

/// The installed components and the rules for egress grants. The crate that
/// wires the runtime implements it over the runtime's `NodeSpec` and `Grant`,
/// so this crate stays free of wasmtime.
pub trait NodeCatalog {
    /// The spec of a component type (`builtin:http`, `acme/crm@1.2.0`), if installed.
    fn spec(&self, node_type: &str) -> Option<ComponentSpec>;
    /// Parses a grant as written in a workflow: its normalised text, or why it is malformed.
    fn parse_grant(&self, grant: &str) -> Result<String, String>;
    /// Whether any of `grants` (already parsed) lets a node reach `scheme://host:port`.
    fn grants_allow(&self, grants: &[&str], scheme: &str, host: &str, port: u16) -> bool;
    /// Why `node_type` is not installed, when the catalog knows more than
    /// that (a plugin installed at another version, say).
    fn why_missing(&self, _node_type: &str) -> Option<String> {
        None
    }
}

/// One problem in a workflow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError {
    /// Where in the document (`connections[1].to`).
    pub path: String,
    /// Where in the text, when the workflow was read from text.
    pub location: Option<Location>,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(at) => write!(f, "{} ({at}): {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

struct Report<'a> {
    workflow: &'a Workflow,
    errors: Vec<ValidationError>,
}

impl Report<'_> {
    fn push(&mut self, path: &Path, message: String) {
        self.errors.push(ValidationError {
            location: self.workflow.locate(path),
            path: path.to_string(),
            message,
        });
    }

    fn push_at_key(&mut self, path: &Path, message: String) {
        self.errors.push(ValidationError {
            location: self.workflow.locate_key(path),
            path: path.to_string(),
            message,
        });
    }
}

fn quoted(names: &[String]) -> String {
    if names.is_empty() {
        return "none".into();
    }
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The output ports of a node: from its spec for a component, from its kind
/// (and params, for `switch`) for a control node; plus `error` with
/// `onError: error-output`. `None` when the component is unknown.
pub fn output_ports(node: &Node, catalog: &dyn NodeCatalog) -> Option<Vec<String>> {
    let mut ports: Vec<String> = match &node.node_type {
        NodeType::Control(kind) => match kind {
            ControlKind::If => vec!["true".into(), "false".into()],
            ControlKind::Filter => vec![MAIN_PORT.into(), "discarded".into()],
            ControlKind::Loop => vec!["loop".into(), "done".into()],
            ControlKind::StopAndError => vec![],
            // Expression mode: `outputs` numbered ports, the expression picks one.
            ControlKind::Switch if node.params.get("outputs").is_some() => {
                let count = node
                    .params
                    .get("outputs")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0);
                (0..count).map(|i| i.to_string()).collect()
            }
            ControlKind::Switch => {
                let rules = node.params.get("rules").and_then(|r| r.as_array());
                let mut ports: Vec<String> = rules
                    .into_iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, rule)| {
                        rule.get("output")
                            .and_then(|o| o.as_str())
                            .map_or_else(|| i.to_string(), str::to_owned)
                    })
                    .collect();
                ports.push("fallback".into());
                ports
            }
            _ => vec![MAIN_PORT.into()],
        },
        other => catalog.spec(&other.to_string())?.outputs,
    };
    if node.on_error == OnError::ErrorOutput {
        ports.push("error".into());
    }
    Some(ports)
}

/// Checks `workflow` against `catalog`; an empty list means it can be compiled.
pub fn validate(workflow: &Workflow, catalog: &dyn NodeCatalog) -> Vec<ValidationError> {
    let mut report = Report {
        workflow,
        errors: Vec::new(),
    };
    let nodes = Path::root().key("nodes");
    let mut ids: HashMap<&str, usize> = HashMap::new();
    let mut ports: Vec<Option<Vec<String>>> = Vec::new();
    for (i, node) in workflow.nodes.iter().enumerate() {
        let at = nodes.index(i);
        if node.id.trim().is_empty() {
            report.push(&at.key("id"), "a node id cannot be empty".into());
        } else if let Some(first) = ids.get(node.id.as_str()) {
            report.push(
                &at.key("id"),
                format!(
                    "the id `{}` is already used by nodes[{first}]; give every node its own id",
                    node.id
                ),
            );
        } else {
            ids.insert(&node.id, i);
        }
        let spec = match &node.node_type {
            NodeType::Control(_) => None,
            component => {
                let spec = catalog.spec(&component.to_string());
                if spec.is_none() {
                    let why = catalog.why_missing(&component.to_string()).unwrap_or_else(|| {
                        format!("no installed component is called `{component}`; install it or fix the type")
                    });
                    report.push(&at.key("type"), format!("node `{}`: {why}", node.id));
                }
                spec
            }
        };
        ports.push(output_ports(node, catalog));
        check_params(&mut report, &at.key("params"), &node.params);
        check_response_headers(&mut report, &at, node);
        check_node_settings(&mut report, &at, node, &ids);
        check_credentials(&mut report, &at, node, spec.as_ref());
        check_egress(&mut report, &at, node, spec.as_ref(), catalog);
    }
    if workflow.nodes.is_empty() {
        report.push(&nodes, "a workflow needs at least one node".into());
    }
    for (i, node) in workflow.nodes.iter().enumerate() {
        if let Some(target) = &node.compensate {
            if !ids.contains_key(target.as_str()) {
                report.push(
                    &nodes.index(i).key("compensate"),
                    format!("no node has the id `{target}`{}", suggest(target, &ids)),
                );
            } else if *target == node.id {
                report.push(
                    &nodes.index(i).key("compensate"),
                    "a node cannot compensate itself".into(),
                );
            }
        }
    }
    check_connections(&mut report, &ids, &ports);
    report.errors
}

fn check_params(report: &mut Report<'_>, at: &Path, value: &serde_json::Value) {
    match value {
        serde_json::Value::String(text) => {
            if let Err(e) = Template::parse(text) {
                report.push(at, e.to_string());
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_params(report, &at.index(i), item);
            }
        }
        serde_json::Value::Object(fields) => {
            for (k, v) in fields {
                check_params(report, &at.key(k.clone()), v);
            }
        }
        _ => {}
    }
}

/// Why a webhook answer may not carry `name`, or `None` when it may.
/// Webhook answers are served on the UI's origin, so these headers would
/// act on the UI (its cookies, its security policy) or on the connection
/// the server owns.
pub fn forbidden_response_header(name: &str) -> Option<&'static str> {
    let name = name.trim().to_ascii_lowercase();
    Some(match name.as_str() {
        "set-cookie" | "set-cookie2" => {
            "it would set a cookie on the server's origin, where the UI's session lives"
        }
        "clear-site-data" => "it would clear the UI's cookies and storage on the server's origin",
        "content-security-policy"
        | "content-security-policy-report-only"
        | "x-content-type-options"
        | "x-frame-options"
        | "strict-transport-security"
        | "cross-origin-opener-policy"
        | "cross-origin-embedder-policy"
        | "cross-origin-resource-policy"
        | "permissions-policy" => {
            "the server sets the security headers of webhook answers itself, so that an answer cannot act on the UI's origin"
        }
        "connection" | "keep-alive" | "transfer-encoding" | "te" | "trailer" | "upgrade"
        | "content-length" | "host" => {
            "it is a hop-by-hop or framing header that the server sets for the connection"
        }
        n if n.starts_with("proxy-") => {
            "it is a hop-by-hop or framing header that the server sets for the connection"
        }
        n if n.starts_with("access-control-allow-") => {
            "it would let other sites read answers on the server's origin with the visitor's cookies"
        }
        _ => return None,
    })
}

/// A webhook trigger's `responseHeaders` and a respond node's `headers`
/// may not name headers that act on the UI's origin or the connection.
fn check_response_headers(report: &mut Report<'_>, at: &Path, node: &Node) {
    let field = match node.node_type.control() {
        Some(ControlKind::Webhook) => "responseHeaders",
        Some(ControlKind::Respond) => "headers",
        _ => return,
    };
    let Some(headers) = node.params.get(field).and_then(|h| h.as_object()) else {
        return;
    };
    for name in headers.keys() {
        if let Some(why) = forbidden_response_header(name) {
            report.push_at_key(
                &at.key("params").key(field).key(name.clone()),
                format!(
                    "node `{}`: the header `{name}` cannot be set on a webhook answer: {why}; remove it",
                    node.id
                ),
            );
        }
    }
}

fn check_node_settings(report: &mut Report<'_>, at: &Path, node: &Node, _: &HashMap<&str, usize>) {
    if !node.params.is_object() {
        report.push(
            &at.key("params"),
            "params must be a mapping of names to values".into(),
        );
    }
    if let Some(retry) = &node.retry {
        if retry.max_attempts == 0 {
            report.push(
                &at.key("retry").key("maxAttempts"),
                "maxAttempts counts the first attempt too; use 1 or more".into(),
            );
        }
        if retry.backoff.initial_ms > retry.backoff.max_ms {
            report.push(
                &at.key("retry").key("backoff"),
                format!(
                    "initialMs ({}) is larger than maxMs ({})",
                    retry.backoff.initial_ms, retry.backoff.max_ms
                ),
            );
        }
    }
    if node.timeout_ms == Some(0) {
        report.push(
            &at.key("timeoutMs"),
            "a timeout of 0 ms never lets the node run".into(),
        );
    }
}

fn check_credentials(
    report: &mut Report<'_>,
    at: &Path,
    node: &Node,
    spec: Option<&ComponentSpec>,
) {
    let Some(spec) = spec else {
        if node.node_type.control().is_some() {
            for slot in node.credentials.keys() {
                report.push_at_key(
                    &at.key("credentials").key(slot.clone()),
                    format!(
                        "`{}` is a control node and takes no credentials",
                        node.node_type
                    ),
                );
            }
        }
        return;
    };
    let slots: Vec<String> = spec.credentials.iter().map(|(n, _)| n.clone()).collect();
    for slot in node.credentials.keys() {
        if !slots.contains(slot) {
            report.push_at_key(
                &at.key("credentials").key(slot.clone()),
                format!(
                    "node `{}` ({}) has no credential slot `{slot}`; its slots are {}",
                    node.id,
                    node.node_type,
                    quoted(&slots)
                ),
            );
        }
    }
    for (slot, required) in &spec.credentials {
        if *required && !node.credentials.contains_key(slot) {
            report.push(
                &at.key("credentials"),
                format!(
                    "node `{}` ({}) needs a credential in slot `{slot}`; add `credentials: {{ {slot}: NAME }}` naming a stored credential",
                    node.id, node.node_type
                ),
            );
        }
    }
}

fn check_egress(
    report: &mut Report<'_>,
    at: &Path,
    node: &Node,
    spec: Option<&ComponentSpec>,
    catalog: &dyn NodeCatalog,
) {
    let mut grants = Vec::new();
    for (i, grant) in node.egress.iter().enumerate() {
        match catalog.parse_grant(grant) {
            Ok(normal) => grants.push((grant.as_str(), normal)),
            Err(reason) => report.push(&at.key("egress").index(i), reason),
        }
    }
    if node.node_type.control().is_some() && !node.egress.is_empty() {
        report.push(
            &at.key("egress"),
            format!(
                "`{}` is a control node and makes no requests; remove `egress`",
                node.node_type
            ),
        );
    }
    let Some(spec) = spec else { return };
    let written: Vec<&str> = grants.iter().map(|(g, _)| *g).collect();
    for (need, reason) in &spec.egress {
        if let Some(param) = need.strip_prefix("param:") {
            let Some(text) = node.params.get(param).and_then(|v| v.as_str()) else {
                continue;
            };
            if text.contains("{{") {
                continue;
            }
            let param_path = at.key("params").key(param);
            let Ok(url) = url::Url::parse(text) else {
                report.push(&param_path, format!("`{text}` is not an absolute URL"));
                continue;
            };
            let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
                report.push(&param_path, format!("`{text}` has no host"));
                continue;
            };
            if !catalog.grants_allow(&written, url.scheme(), host, port) {
                let origin = url.origin().ascii_serialization();
                report.push(
                    &param_path,
                    format!(
                        "node `{}` ({}) would call `{origin}`, which its grants do not allow; add `{origin}` under `egress`",
                        node.id, node.node_type
                    ),
                );
            }
        } else {
            let allowed = match catalog.parse_grant(need) {
                Ok(normal) if need.contains('*') => grants.iter().any(|(_, g)| *g == normal),
                Ok(_) => url::Url::parse(need).ok().is_some_and(|url| {
                    match (url.host_str(), url.port_or_known_default()) {
                        (Some(host), Some(port)) => {
                            catalog.grants_allow(&written, url.scheme(), host, port)
                        }
                        _ => false,
                    }
                }),
                Err(_) => false,
            };
            if !allowed {
                report.push(
                    &at.key("egress"),
                    format!(
                        "node `{}` ({}) needs to reach `{need}` ({reason}); add `{need}` under `egress`",
                        node.id, node.node_type
                    ),
                );
            }
        }
    }
}

fn suggest(id: &str, ids: &HashMap<&str, usize>) -> String {
    let mut best: Option<(usize, &str)> = None;
    for candidate in ids.keys() {
        let d = distance(id, candidate);
        if d <= 2 && best.is_none_or(|(b, c)| (d, *candidate) < (b, c)) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, c)| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

fn check_connections(
    report: &mut Report<'_>,
    ids: &HashMap<&str, usize>,
    ports: &[Option<Vec<String>>],
) {
    let workflow = report.workflow;
    let mut edges: BTreeMap<usize, Vec<(usize, usize)>> = BTreeMap::new();
    for (i, c) in workflow.connections.iter().enumerate() {
        let at = Path::root().key("connections").index(i);
        let from = ids.get(c.from.as_str()).copied();
        let to = ids.get(c.to.as_str()).copied();
        if from.is_none() {
            report.push(
                &at.key("from"),
                format!("no node has the id `{}`{}", c.from, suggest(&c.from, ids)),
            );
        }
        if to.is_none() {
            report.push(
                &at.key("to"),
                format!("no node has the id `{}`{}", c.to, suggest(&c.to, ids)),
            );
        }
        if let Some(from) = from
            && let Some(known) = &ports[from]
            && !known.iter().any(|p| p == c.port())
        {
            let node = &workflow.nodes[from];
            let hint = if c.port() == "error" {
                "; set `onError: error-output` on it to get an `error` port".to_owned()
            } else {
                format!("; its outputs are {}", quoted(known))
            };
            report.push(
                &at.key("port"),
                format!(
                    "node `{}` ({}) has no output `{}`{hint}",
                    node.id,
                    node.node_type,
                    c.port()
                ),
            );
        }
        if let Some(to) = to {
            let node = &workflow.nodes[to];
            if node.node_type.is_trigger() {
                report.push(
                    &at.key("to"),
                    format!(
                        "node `{}` is a trigger ({}); triggers start runs and take no input",
                        node.id, node.node_type
                    ),
                );
            }
            if c.input.is_some() && node.node_type.control() != Some(ControlKind::Merge) {
                report.push(
                    &at.key("input"),
                    "only `merge` nodes have named inputs; remove `input` or connect to a merge node".into(),
                );
            }
        }
        if let (Some(from), Some(to)) = (from, to) {
            edges.entry(from).or_default().push((to, i));
        }
    }
    check_cycles(report, &edges);
}

/// Every cycle must pass through a `loop` node: the graph without loop
/// nodes must be acyclic.
fn check_cycles(report: &mut Report<'_>, edges: &BTreeMap<usize, Vec<(usize, usize)>>) {
    let nodes = &report.workflow.nodes;
    let is_loop = |i: usize| nodes[i].node_type.control() == Some(ControlKind::Loop);
    // 0 unvisited, 1 on the stack, 2 done
    let mut state = vec![0u8; nodes.len()];
    let mut reported: HashSet<usize> = HashSet::new();
    for start in 0..nodes.len() {
        if state[start] != 0 || is_loop(start) {
            continue;
        }
        // Iterative DFS: (node, next edge index), with the path for messages.
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        state[start] = 1;
        while let Some((node, next)) = stack.last().copied() {
            let out = edges.get(&node).map_or(&[][..], Vec::as_slice);
            if next == out.len() {
                state[node] = 2;
                stack.pop();
                continue;
            }
            if let Some(top) = stack.last_mut() {
                top.1 += 1;
            }
            let (to, connection) = out[next];
            if is_loop(to) {
                continue;
            }
            match state[to] {
                0 => {
                    state[to] = 1;
                    stack.push((to, 0));
                }
                1 if reported.insert(connection) => {
                    let begin = stack.iter().position(|(n, _)| *n == to).unwrap_or(0);
                    let mut names: Vec<&str> = stack[begin..]
                        .iter()
                        .map(|(n, _)| nodes[*n].id.as_str())
                        .collect();
                    names.push(nodes[to].id.as_str());
                    report.push(
                        &Path::root().key("connections").index(connection),
                        format!(
                            "the cycle {} does not pass through a `loop` node; repeat work with a `loop` node or remove this connection",
                            names.join(" → ")
                        ),
                    );
                }
                _ => {}
            }
        }
    }
}
