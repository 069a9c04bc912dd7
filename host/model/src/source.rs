//! Reading workflow text into JSON values while remembering where each value
//! and each key was written, so errors can point at a line and column.

use std::collections::HashMap;
use std::fmt;

use serde_json::{Map, Value};
use yaml_rust2::Yaml;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

use crate::ParseError;

/// A position in workflow text, both 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// Line number, from 1.
    pub line: usize,
    /// Column number (in characters), from 1.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

impl From<Marker> for Location {
    fn from(mark: Marker) -> Self {
        Location {
            line: mark.line(),
            column: mark.col() + 1,
        }
    }
}

/// A size limit on every document read, so that a few lines of text cannot
/// expand (through YAML aliases) or nest past what the process can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocumentLimit {
    /// Values (scalars, sequences and mappings) in the document once every
    /// alias is expanded.
    Values(usize),
    /// Bytes of keys and strings once every alias is expanded.
    Bytes(usize),
    /// Levels of nested sequences and mappings.
    Depth(usize),
}

impl DocumentLimit {
    /// Values a document may hold, aliases expanded.
    pub const MAX_VALUES: usize = 1_000_000;
    /// Bytes of keys and strings a document may hold, aliases expanded.
    pub const MAX_BYTES: usize = 64 << 20;
    /// Levels of nesting a document may have (serde_json's own limit).
    pub const MAX_DEPTH: usize = 128;
}

impl fmt::Display for DocumentLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocumentLimit::Values(n) => write!(
                f,
                "the document expands to more than {n} values (YAML aliases count once per use); write the repeated part fewer times"
            ),
            DocumentLimit::Bytes(n) => write!(
                f,
                "the document expands to more than {n} bytes of text (YAML aliases count once per use); write the repeated part fewer times"
            ),
            DocumentLimit::Depth(n) => write!(
                f,
                "the document nests more than {n} levels deep; flatten it"
            ),
        }
    }
}

/// One step in a [`Path`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PathSegment {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// Where a value sits in a workflow document: `nodes[2].params.url`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Path(Vec<PathSegment>);

impl Path {
    /// The document's root.
    pub fn root() -> Self {
        Path(Vec::new())
    }

    /// This path with a key appended.
    pub fn key(&self, key: impl Into<String>) -> Self {
        let mut next = self.clone();
        next.0.push(PathSegment::Key(key.into()));
        next
    }

    /// This path with an index appended.
    pub fn index(&self, index: usize) -> Self {
        let mut next = self.clone();
        next.0.push(PathSegment::Index(index));
        next
    }

    /// The enclosing path, or `None` at the root.
    pub fn parent(&self) -> Option<Self> {
        let mut up = self.clone();
        up.0.pop().map(|_| up)
    }

    /// Its segments, outermost first.
    pub fn segments(&self) -> &[PathSegment] {
        &self.0
    }

    fn push(&mut self, segment: PathSegment) {
        self.0.push(segment);
    }

    fn pop(&mut self) {
        self.0.pop();
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(document)");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                PathSegment::Index(index) => write!(f, "[{index}]")?,
                PathSegment::Key(key)
                    if !key.is_empty()
                        && key
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
                {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(key)?;
                }
                PathSegment::Key(key) => write!(f, "[{}]", Value::String(key.clone()))?,
            }
        }
        Ok(())
    }
}

/// Where each value (and each mapping key) of a document was written.
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    values: HashMap<Path, Location>,
    keys: HashMap<Path, Location>,
}

impl SourceMap {
    /// Where the value at `path` starts, or, when it is absent, where its
    /// closest written ancestor does.
    pub fn locate(&self, path: &Path) -> Option<Location> {
        let mut at = Some(path.clone());
        while let Some(path) = at {
            if let Some(location) = self.values.get(&path) {
                return Some(*location);
            }
            at = path.parent();
        }
        None
    }

    /// Where the key that leads to `path` was written, falling back to
    /// [`SourceMap::locate`].
    pub fn locate_key(&self, path: &Path) -> Option<Location> {
        self.keys.get(path).copied().or_else(|| self.locate(path))
    }

    /// Whether the map knows nothing (the workflow was not read from text).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// What a value costs against the document's limits.
#[derive(Clone, Copy, Default)]
struct Cost {
    values: usize,
    bytes: usize,
}

enum Frame {
    Seq {
        items: Vec<Value>,
        anchor: usize,
        /// The document's cost when the sequence started.
        start: Cost,
    },
    Map {
        entries: Map<String, Value>,
        anchor: usize,
        key: Option<String>,
        start: Cost,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    path: Path,
    /// Each anchored value with what it cost, so an alias is charged in full
    /// before it is copied.
    anchors: HashMap<usize, (Value, Cost)>,
    map: SourceMap,
    documents: usize,
    result: Option<Value>,
    error: Option<ParseError>,
    /// What the document has cost so far, aliases expanded.
    cost: Cost,
}

impl Builder {
    fn fail(&mut self, path: &Path, mark: Marker, message: String) {
        self.fail_with(path, mark, message, None);
    }

    fn fail_with(
        &mut self,
        path: &Path,
        mark: Marker,
        message: String,
        limit: Option<DocumentLimit>,
    ) {
        if self.error.is_none() {
            self.error = Some(ParseError {
                path: Some(path.to_string()).filter(|_| !path.segments().is_empty()),
                location: Some(mark.into()),
                message,
                limit,
            });
        }
    }

    /// Adds `cost` to the document's; false (and the error set) when that
    /// goes past a limit.
    fn charge(&mut self, cost: Cost, mark: Marker) -> bool {
        self.cost.values = self.cost.values.saturating_add(cost.values);
        self.cost.bytes = self.cost.bytes.saturating_add(cost.bytes);
        let limit = if self.cost.values > DocumentLimit::MAX_VALUES {
            DocumentLimit::Values(DocumentLimit::MAX_VALUES)
        } else if self.cost.bytes > DocumentLimit::MAX_BYTES {
            DocumentLimit::Bytes(DocumentLimit::MAX_BYTES)
        } else {
            return true;
        };
        let path = self.path.clone();
        self.fail_with(&path, mark, limit.to_string(), Some(limit));
        false
    }

    /// The cost of what was read since `start`.
    fn since(&self, start: Cost) -> Cost {
        Cost {
            values: self.cost.values - start.values,
            bytes: self.cost.bytes - start.bytes,
        }
    }

    /// The segment the next value will take, when it is a value (not a key).
    fn next_segment(&self) -> Option<PathSegment> {
        match self.stack.last() {
            Some(Frame::Seq { items, .. }) => Some(PathSegment::Index(items.len())),
            Some(Frame::Map { key: Some(k), .. }) => Some(PathSegment::Key(k.clone())),
            _ => None,
        }
    }

    fn expects_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }

    fn deliver(&mut self, value: Value) {
        match self.stack.last_mut() {
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { entries, key, .. }) => {
                if let Some(k) = key.take() {
                    entries.insert(k, value);
                }
            }
            None => self.result = Some(value),
        }
    }

    fn start_value(&mut self, mark: Marker) -> Path {
        let mut path = self.path.clone();
        if let Some(segment) = self.next_segment() {
            path.push(segment);
        }
        self.map.values.entry(path.clone()).or_insert(mark.into());
        path
    }

    fn take_key(&mut self, key: String, mark: Marker) {
        let path = self.path.key(key.clone());
        if let Some(Frame::Map {
            entries, key: k, ..
        }) = self.stack.last_mut()
        {
            if entries.contains_key(&key) {
                self.fail(
                    &path,
                    mark,
                    format!("the key `{key}` appears twice in this mapping"),
                );
                return;
            }
            let first = entries.is_empty();
            *k = Some(key);
            // A block mapping's start event can be marked after its first
            // key; the mapping starts where that key does.
            if first {
                let start = self
                    .map
                    .values
                    .entry(self.path.clone())
                    .or_insert(mark.into());
                *start = (*start).min(mark.into());
            }
        }
        self.map.keys.insert(path, mark.into());
    }
}

fn is_core_tag(tag: &Tag, suffix: &str) -> bool {
    (tag.handle == "!!" || tag.handle == "tag:yaml.org,2002:") && tag.suffix == suffix
}

fn scalar_value(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    if let Some(tag) = tag {
        if is_core_tag(tag, "str") {
            return Ok(Value::String(text));
        }
        if !["int", "float", "bool", "null"]
            .iter()
            .any(|s| is_core_tag(tag, s))
        {
            return Err(format!(
                "the YAML tag `{}{}` is not supported; remove it",
                tag.handle, tag.suffix
            ));
        }
    }
    if style != TScalarStyle::Plain {
        return Ok(Value::String(text));
    }
    Ok(match Yaml::from_str(&text) {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Integer(i) => Value::from(i),
        real @ Yaml::Real(_) => match real.as_f64().and_then(serde_json::Number::from_f64) {
            Some(n) => Value::Number(n),
            None => return Err(format!("the number `{text}` cannot be represented in JSON")),
        },
        _ => Value::String(text),
    })
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match event {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    self.fail(
                        &Path::root(),
                        mark,
                        "a workflow file holds one YAML document; remove the second `---`".into(),
                    );
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let cost = Cost {
                    values: 1,
                    bytes: text.len(),
                };
                if !self.charge(cost, mark) {
                    return;
                }
                if self.expects_key() {
                    if anchor != 0 {
                        self.anchors
                            .insert(anchor, (Value::String(text.clone()), cost));
                    }
                    self.take_key(text, mark);
                    return;
                }
                let path = self.start_value(mark);
                match scalar_value(text, style, tag.as_ref()) {
                    Ok(value) => {
                        if anchor != 0 {
                            self.anchors.insert(anchor, (value.clone(), cost));
                        }
                        self.deliver(value);
                    }
                    Err(message) => self.fail(&path, mark, message),
                }
            }
            Event::Alias(anchor) => {
                let cost = self.anchors.get(&anchor).map_or(Cost::default(), |a| a.1);
                if !self.charge(cost, mark) {
                    return;
                }
                let value = self
                    .anchors
                    .get(&anchor)
                    .map_or(Value::Null, |a| a.0.clone());
                if self.expects_key() {
                    match value {
                        Value::String(key) => self.take_key(key, mark),
                        _ => self.fail(
                            &self.path.clone(),
                            mark,
                            "mapping keys must be strings".into(),
                        ),
                    }
                    return;
                }
                self.start_value(mark);
                self.deliver(value);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.expects_key() {
                    self.fail(
                        &self.path.clone(),
                        mark,
                        "mapping keys must be strings, not mappings or sequences".into(),
                    );
                    return;
                }
                if self.stack.len() >= DocumentLimit::MAX_DEPTH {
                    let limit = DocumentLimit::Depth(DocumentLimit::MAX_DEPTH);
                    let path = self.path.clone();
                    self.fail_with(&path, mark, limit.to_string(), Some(limit));
                    return;
                }
                let start = self.cost;
                if !self.charge(
                    Cost {
                        values: 1,
                        bytes: 0,
                    },
                    mark,
                ) {
                    return;
                }
                let path = self.start_value(mark);
                self.path = path;
                self.stack
                    .push(if matches!(event, Event::SequenceStart(..)) {
                        Frame::Seq {
                            items: Vec::new(),
                            anchor,
                            start,
                        }
                    } else {
                        Frame::Map {
                            entries: Map::new(),
                            anchor,
                            key: None,
                            start,
                        }
                    });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor, start) = match self.stack.pop() {
                    Some(Frame::Seq {
                        items,
                        anchor,
                        start,
                    }) => (Value::Array(items), anchor, start),
                    Some(Frame::Map {
                        entries,
                        anchor,
                        start,
                        ..
                    }) => (Value::Object(entries), anchor, start),
                    None => return,
                };
                if anchor != 0 {
                    let cost = self.since(start);
                    self.anchors.insert(anchor, (value.clone(), cost));
                }
                if self.stack.is_empty() {
                    self.path = Path::root();
                } else {
                    self.path.pop();
                }
                self.deliver(value);
            }
            _ => {}
        }
    }
}

/// Hands the parser's events to `builder` one at a time, until the stream
/// ends or the builder has failed. (`Parser::load` recurses once per level
/// of nesting, so deep block nesting would overflow the stack.)
fn feed(parser: &mut Parser<std::str::Chars<'_>>, builder: &mut Builder) -> Result<(), ScanError> {
    loop {
        let (event, mark) = parser.next_token()?;
        if event == Event::StreamEnd || builder.error.is_some() {
            return Ok(());
        }
        builder.on_event(event, mark);
    }
}

/// Reads YAML text into a JSON value and the locations of its parts.
pub(crate) fn read_yaml(text: &str) -> Result<(Value, SourceMap), ParseError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = feed(&mut parser, &mut builder) {
        // yaml-rust2's scanner stops flow collections nested past its own limit.
        if e.info().contains("recursion limit exceeded") {
            let limit = DocumentLimit::Depth(DocumentLimit::MAX_DEPTH);
            return Err(ParseError {
                path: None,
                location: Some((*e.marker()).into()),
                message: limit.to_string(),
                limit: Some(limit),
            });
        }
        return Err(ParseError {
            path: None,
            location: Some((*e.marker()).into()),
            message: format!("invalid YAML: {}", e.info()),
            limit: None,
        });
    }
    if let Some(error) = builder.error {
        return Err(error);
    }
    match builder.result {
        Some(value) => Ok((value, builder.map)),
        None => Err(ParseError {
            path: None,
            location: None,
            message: "the file is empty; a workflow needs at least `name` and `nodes`".into(),
            limit: None,
        }),
    }
}

/// Reads JSON text into a JSON value and the locations of its parts.
pub(crate) fn read_json(text: &str) -> Result<(Value, SourceMap), ParseError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let location = Some(Location {
            line: e.line(),
            column: e.column(),
        });
        // serde_json stops at 128 levels, the same as `DocumentLimit::MAX_DEPTH`.
        if e.to_string().starts_with("recursion limit exceeded") {
            let limit = DocumentLimit::Depth(DocumentLimit::MAX_DEPTH);
            return ParseError {
                path: None,
                location,
                message: limit.to_string(),
                limit: Some(limit),
            };
        }
        ParseError {
            path: None,
            location,
            message: format!("invalid JSON: {e}"),
            limit: None,
        }
    })?;
    // JSON is YAML 1.2, so the YAML reader finds the locations; the value
    // itself comes from the JSON parser, which is exact about JSON.
    let map = read_yaml(text).map(|(_, map)| map).unwrap_or_default();
    Ok((value, map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_like_javascript_accessors() {
        let path = Path::root().key("nodes").index(2).key("params").key("x y");
        assert_eq!(path.to_string(), r#"nodes[2].params["x y"]"#);
    }

    #[test]
    fn yaml_values_keep_their_locations() {
        let text = "name: a\nnodes:\n  - id: x\n    params: {url: 'http://a', n: 3}\n";
        let (value, map) = read_yaml(text).unwrap();
        assert_eq!(value["nodes"][0]["params"]["n"], 3);
        let url = Path::root().key("nodes").index(0).key("params").key("url");
        assert_eq!(
            map.locate(&url),
            Some(Location {
                line: 4,
                column: 19
            })
        );
        let id = Path::root().key("nodes").index(0).key("id");
        assert_eq!(map.locate_key(&id), Some(Location { line: 3, column: 5 }));
        let missing = Path::root().key("nodes").index(0).key("nothing");
        assert_eq!(map.locate(&missing), Some(Location { line: 3, column: 5 }));
    }

    #[test]
    fn json_gets_locations_too() {
        let (_, map) = read_json("{\n  \"name\": \"a\",\n  \"nodes\": []\n}").unwrap();
        let nodes = Path::root().key("nodes");
        assert_eq!(
            map.locate(&nodes),
            Some(Location {
                line: 3,
                column: 12
            })
        );
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let err = read_yaml("name: a\nname: b\n").unwrap_err();
        assert_eq!(err.location, Some(Location { line: 2, column: 1 }));
        assert!(err.message.contains("appears twice"), "{err}");
    }
}
