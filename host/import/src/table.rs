//! The compatibility table in `docs/n8n-compat.md`, which the importer
//! reads so that the document and the code cannot drift apart.

const DOC: &str = include_str!("../../../docs/n8n-compat.md");

/// How far a node type maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Same answers as n8n.
    Mapped,
    /// Maps; the notes say what is missing.
    Partial,
    /// Does not map.
    NotMapped,
}

/// One row of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// n8n's node type (`n8n-nodes-base.if`).
    pub n8n_type: String,
    /// The type versions the row covers, as written (`2.1`).
    pub versions: Vec<String>,
    /// The n8n-work node type, when it maps.
    pub target: String,
    /// How far it maps.
    pub status: Status,
    /// What is missing.
    pub notes: String,
}

/// Every row of the table.
pub fn rows() -> Vec<Row> {
    DOC.lines()
        .filter(|line| line.starts_with("| n8n-nodes-base."))
        .filter_map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            let [n8n_type, versions, target, status, notes] = cells.as_slice() else {
                return None;
            };
            Some(Row {
                n8n_type: (*n8n_type).to_owned(),
                versions: versions.split(',').map(|v| v.trim().to_owned()).collect(),
                target: (*target).to_owned(),
                status: match *status {
                    "mapped" => Status::Mapped,
                    "partial" => Status::Partial,
                    _ => Status::NotMapped,
                },
                notes: (*notes).to_owned(),
            })
        })
        .collect()
}

/// The row for `n8n_type` at `version` (a JSON number such as `2.1`).
pub fn lookup(n8n_type: &str, version: f64) -> Option<Row> {
    rows().into_iter().find(|row| {
        row.n8n_type == n8n_type
            && row
                .versions
                .iter()
                .any(|v| v.parse::<f64>().is_ok_and(|v| v == version))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_has_rows_and_every_row_is_well_formed() {
        let rows = rows();
        assert!(rows.len() > 20);
        for row in &rows {
            assert!(
                row.versions.iter().all(|v| v.parse::<f64>().is_ok()),
                "{row:?}"
            );
            assert_eq!(
                row.target.is_empty(),
                row.status == Status::NotMapped,
                "{row:?}"
            );
        }
        assert_eq!(lookup("n8n-nodes-base.if", 2.2).unwrap().target, "if");
        assert_eq!(
            lookup("n8n-nodes-base.merge", 2.1).unwrap().status,
            Status::NotMapped
        );
        assert!(lookup("n8n-nodes-base.nope", 1.0).is_none());
    }
}
