//! What an import could not carry over, by node.

use std::fmt;

/// What kind of note.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NoteKind {
    /// The node has no n8n-work equivalent; a `noop` stands in for it.
    Unmapped,
    /// The node maps, but not every behaviour does.
    Partial,
    /// A parameter (or node setting) has no equivalent and is ignored.
    IgnoredParam,
    /// A credential became a reference the user must create.
    Credential,
    /// An expression uses something n8n-work does not provide.
    Expression,
    /// Something the importer added or changed (egress grants, names).
    Changed,
}

impl NoteKind {
    fn label(self) -> &'static str {
        match self {
            NoteKind::Unmapped => "not mapped",
            NoteKind::Partial => "partial",
            NoteKind::IgnoredParam => "ignored",
            NoteKind::Credential => "credential",
            NoteKind::Expression => "expression",
            NoteKind::Changed => "changed",
        }
    }
}

/// One thing the user should know about an imported workflow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The node's name, or `None` for the workflow as a whole.
    pub node: Option<String>,
    /// What kind of note.
    pub kind: NoteKind,
    /// What happened and what to do.
    pub message: String,
}

impl Note {
    pub(crate) fn new(node: &str, kind: NoteKind, message: String) -> Note {
        Note {
            node: Some(node.to_owned()),
            kind,
            message,
        }
    }

    pub(crate) fn workflow(kind: NoteKind, message: String) -> Note {
        Note {
            node: None,
            kind,
            message,
        }
    }
}

/// Everything noted while importing one workflow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The workflow's name.
    pub workflow: String,
    /// The notes, in node order.
    pub notes: Vec<Note>,
}

impl Report {
    /// Whether every node mapped (other notes may remain).
    pub fn all_mapped(&self) -> bool {
        !self.notes.iter().any(|n| n.kind == NoteKind::Unmapped)
    }

    /// Whether there is anything to say.
    pub fn is_empty(&self) -> bool {
        self.notes.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "workflow `{}`:", self.workflow)?;
        if self.notes.is_empty() {
            return writeln!(f, "  every node and parameter was converted");
        }
        for note in &self.notes {
            match &note.node {
                Some(node) => writeln!(
                    f,
                    "  [{}] node `{node}`: {}",
                    note.kind.label(),
                    note.message
                )?,
                None => writeln!(f, "  [{}] {}", note.kind.label(), note.message)?,
            }
        }
        Ok(())
    }
}
