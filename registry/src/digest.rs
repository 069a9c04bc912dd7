//! Content digests (`sha256:<hex>`), the addresses of every blob and manifest.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// A validated `sha256:<64 lowercase hex>` content digest.
///
/// Only sha256 is accepted: it is the one algorithm every OCI client and
/// registry supports, and accepting fewer algorithms leaves fewer ways to
/// name the same content.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest {
    hex: String,
}

/// Why a string is not a digest this registry accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestParseError {
    /// The algorithm is not sha256.
    #[error("digest `{0}`: unsupported algorithm; use sha256 (`sha256:<64 hex digits>`)")]
    UnsupportedAlgorithm(String),
    /// The string is not `algorithm:encoded`, or the encoded part is not 64 lowercase hex digits.
    #[error("digest `{0}`: malformed; expected `sha256:` followed by 64 lowercase hex digits")]
    Malformed(String),
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self {
            hex: hex::encode(Sha256::digest(bytes)),
        }
    }

    /// The digest from a finished hasher.
    pub fn from_hasher(hasher: Sha256) -> Self {
        Self {
            hex: hex::encode(hasher.finalize()),
        }
    }

    /// The 64 hex digits, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The algorithm; always `sha256`.
    pub fn algorithm(&self) -> &'static str {
        "sha256"
    }

    /// The form cosign uses in tags: `sha256-<hex>`.
    pub fn tag_form(&self) -> String {
        format!("sha256-{}", self.hex)
    }
}

impl FromStr for Digest {
    type Err = DigestParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((algorithm, encoded)) = s.split_once(':') else {
            return Err(DigestParseError::Malformed(s.to_owned()));
        };
        if algorithm != "sha256" {
            let algorithm_is_wellformed = !algorithm.is_empty()
                && algorithm
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b));
            return Err(if algorithm_is_wellformed {
                DigestParseError::UnsupportedAlgorithm(s.to_owned())
            } else {
                DigestParseError::Malformed(s.to_owned())
            });
        }
        if encoded.len() != 64
            || !encoded
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(DigestParseError::Malformed(s.to_owned()));
        }
        Ok(Self {
            hex: encoded.to_owned(),
        })
    }
}

impl TryFrom<String> for Digest {
    type Error = DigestParseError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Digest> for String {
    fn from(value: Digest) -> Self {
        value.to_string()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest(sha256:{})", self.hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_empty_input_is_the_well_known_value() {
        assert_eq!(
            Digest::of(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn parse_round_trips_and_rejects_other_forms() {
        let d = Digest::of(b"x");
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        assert!(matches!(
            "sha512:abcd".parse::<Digest>(),
            Err(DigestParseError::UnsupportedAlgorithm(_))
        ));
        assert!(matches!(
            "sha256:ABCD".parse::<Digest>(),
            Err(DigestParseError::Malformed(_))
        ));
        let upper = format!("sha256:{}", d.hex().to_uppercase());
        assert!(upper.parse::<Digest>().is_err());
        assert!("nocolon".parse::<Digest>().is_err());
    }
}
