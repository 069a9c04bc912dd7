//! Repository names and tags, validated by the grammar of the OCI
//! Distribution Spec so that no request can name a path outside the store.

use std::fmt;

/// A repository name such as `plugins/slack`: path components of lowercase
/// letters and digits joined by `.`, `_`, `__` or runs of `-`, separated by
/// `/`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepositoryName(String);

/// A tag such as `1.2.0`: up to 128 characters of `[A-Za-z0-9_.-]`, not
/// starting with `.` or `-`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

/// Why a repository name or a tag was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The repository name does not follow the spec's grammar.
    #[error(
        "repository name `{0}` is invalid; use lowercase path components of [a-z0-9] joined by `.`, `_`, `__` or `-`, separated by `/` (at most 255 characters)"
    )]
    Repository(String),
    /// The tag does not follow the spec's grammar.
    #[error(
        "tag `{0}` is invalid; use up to 128 characters of [A-Za-z0-9_.-], starting with a letter, digit or `_`"
    )]
    Tag(String),
}

fn component_is_valid(c: &str) -> bool {
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if alnum(b) {
            i += 1;
            continue;
        }
        // A separator: `.`, `_`, `__` or one or more `-`, always between alphanumerics.
        let start = i;
        match b {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < bytes.len() && bytes[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < bytes.len() && bytes[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if start == 0 || i >= bytes.len() || !alnum(bytes[i]) {
            return false;
        }
    }
    true
}

impl RepositoryName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<Self, NameError> {
        if name.is_empty() || name.len() > 255 || !name.split('/').all(component_is_valid) {
            return Err(NameError::Repository(name.to_owned()));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Tag {
    /// Validates `tag`.
    pub fn new(tag: &str) -> Result<Self, NameError> {
        let bytes = tag.as_bytes();
        let valid = !bytes.is_empty()
            && bytes.len() <= 128
            && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(b));
        if !valid {
            return Err(NameError::Tag(tag.to_owned()));
        }
        Ok(Self(tag.to_owned()))
    }

    /// The tag as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepositoryName({})", self.0)
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_follow_the_spec_grammar() {
        for ok in ["a", "plugins/slack", "a.b/c__d/e---f", "n8n-work/x_y"] {
            assert!(RepositoryName::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "A", "a//b", "/a", "a/", "../a", "a/..", "a/.b", "a_", "a___b", "-a", "a/_tags",
            "a b",
        ] {
            assert!(RepositoryName::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags_follow_the_spec_grammar() {
        assert!(Tag::new("1.2.0").is_ok());
        assert!(Tag::new("sha256-abc.sig").is_ok());
        assert!(Tag::new("_x").is_ok());
        for bad in ["", ".x", "-x", "a/b", "a:b", &"x".repeat(129)] {
            assert!(Tag::new(bad).is_err(), "{bad}");
        }
    }
}
