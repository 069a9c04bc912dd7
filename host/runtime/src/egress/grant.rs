//! Egress grants: the origins a node may reach, parsed and normalised once.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An origin a node may reach: `https://api.slack.com`,
/// `https://*.example.com:8443`, `http://127.0.0.1:8080`.
///
/// A grant names a scheme, a host and a port, nothing else: no path, no
/// query, no credentials. `*.` as the first label matches any host one or
/// more labels below that domain, never the domain itself. Grants come from
/// the workflow (or the CLI's `--grant`), never from request data.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Grant {
    scheme: Scheme,
    host: HostPattern,
    port: u16,
}

/// The schemes a node can use through `wasi:http`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// The scheme's name as written in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum HostPattern {
    /// A DNS name, lowercased, without a trailing dot.
    Name(String),
    /// `*.suffix`: any name strictly below `suffix`.
    Wildcard(String),
    /// An IP literal.
    Ip(IpAddr),
}

/// Why a grant could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "egress grant `{grant}`: {reason}; write a grant as `https://host[:port]` or `https://*.domain[:port]`"
)]
pub struct GrantError {
    grant: String,
    reason: String,
}

impl Grant {
    /// Whether a request to `scheme://host:port` is covered by this grant.
    /// `host` may be a bracketed IPv6 literal, in any case, with or without a
    /// trailing dot.
    pub fn allows(&self, scheme: Scheme, host: &str, port: u16) -> bool {
        if scheme != self.scheme || port != self.port {
            return false;
        }
        let host = normalise_host(host);
        match &self.host {
            HostPattern::Name(name) => *name == host,
            HostPattern::Wildcard(suffix) => host
                .strip_suffix(suffix.as_str())
                .and_then(|head| head.strip_suffix('.'))
                .is_some_and(|head| !head.is_empty()),
            HostPattern::Ip(ip) => host.parse::<IpAddr>().is_ok_and(|h| h == *ip),
        }
    }

    /// The grant's scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }
}

/// Lowercases a host and strips IPv6 brackets and a trailing dot.
pub(crate) fn normalise_host(host: &str) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.trim_end_matches('.').to_ascii_lowercase()
}

impl FromStr for Grant {
    type Err = GrantError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| GrantError {
            grant: text.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = text.trim();
        let (scheme, rest) = trimmed
            .split_once("://")
            .ok_or_else(|| fail("the scheme is missing"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return Err(fail("only http and https can be granted")),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#']) {
            return Err(fail(
                "a grant is an origin; paths, queries and fragments are not allowed",
            ));
        }
        if authority.contains('@') {
            return Err(fail("credentials do not belong in a grant"));
        }
        // `url` does not accept `*` in a host, so parse `*.rest` as `x.rest`
        // and remember the wildcard.
        let (wildcard, parseable) = match authority.strip_prefix("*.") {
            Some(below) => (true, format!("x.{below}")),
            None => (false, authority.to_owned()),
        };
        if parseable.contains('*') {
            return Err(fail(
                "`*` is only allowed as the whole first label, as in `*.example.com`",
            ));
        }
        let url = url::Url::parse(&format!("{}://{parseable}/", scheme.as_str()))
            .map_err(|e| fail(&format!("not a valid origin ({e})")))?;
        let port = url.port().unwrap_or(scheme.default_port());
        let host = match url.host() {
            Some(url::Host::Domain(name)) if wildcard => {
                let below = name.strip_prefix("x.").unwrap_or(name);
                if !below.contains('.') {
                    return Err(fail(
                        "a wildcard must sit below a registrable domain, as in `*.example.com`",
                    ));
                }
                HostPattern::Wildcard(normalise_host(below))
            }
            Some(url::Host::Domain(name)) => HostPattern::Name(normalise_host(name)),
            Some(_) if wildcard => return Err(fail("an IP address cannot take a wildcard")),
            Some(url::Host::Ipv4(ip)) => HostPattern::Ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => HostPattern::Ip(IpAddr::V6(ip)),
            None => return Err(fail("the host is missing")),
        };
        Ok(Grant { scheme, host, port })
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme.as_str())?;
        match &self.host {
            HostPattern::Name(name) => write!(f, "{name}")?,
            HostPattern::Wildcard(suffix) => write!(f, "*.{suffix}")?,
            HostPattern::Ip(IpAddr::V4(ip)) => write!(f, "{ip}")?,
            HostPattern::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
        }
        if self.port != self.scheme.default_port() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

impl serde::Serialize for Grant {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Grant {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The origin of `scheme://host:port` as it would be written in a grant.
pub(crate) fn origin_text(scheme: Scheme, host: &str, port: u16) -> String {
    let host = normalise_host(host);
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    if port == scheme.default_port() {
        format!("{}://{host}", scheme.as_str())
    } else {
        format!("{}://{host}:{port}", scheme.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(text: &str) -> Grant {
        text.parse().unwrap()
    }

    #[test]
    fn exact_host_matches_only_itself_on_its_port_and_scheme() {
        let g = grant("https://api.slack.com");
        assert!(g.allows(Scheme::Https, "api.slack.com", 443));
        assert!(g.allows(Scheme::Https, "API.Slack.com.", 443));
        assert!(!g.allows(Scheme::Http, "api.slack.com", 443));
        assert!(!g.allows(Scheme::Https, "api.slack.com", 8443));
        assert!(!g.allows(Scheme::Https, "evil-api.slack.com", 443));
        assert!(!g.allows(Scheme::Https, "api.slack.com.evil.com", 443));
    }

    #[test]
    fn wildcard_matches_names_below_the_domain_but_not_the_domain() {
        let g = grant("https://*.example.com:8443");
        assert!(g.allows(Scheme::Https, "a.example.com", 8443));
        assert!(g.allows(Scheme::Https, "a.b.example.com", 8443));
        assert!(!g.allows(Scheme::Https, "example.com", 8443));
        assert!(!g.allows(Scheme::Https, "badexample.com", 8443));
        assert!(!g.allows(Scheme::Https, "a.example.com", 443));
    }

    #[test]
    fn ip_literals_match_in_any_spelling() {
        let g = grant("http://[::1]:8080");
        assert!(g.allows(Scheme::Http, "[::1]", 8080));
        assert!(g.allows(Scheme::Http, "[0:0:0:0:0:0:0:1]", 8080));
        let g = grant("http://127.0.0.1:9000/");
        assert!(g.allows(Scheme::Http, "127.0.0.1", 9000));
        assert!(!g.allows(Scheme::Http, "127.0.0.2", 9000));
    }

    #[test]
    fn grants_print_back_as_written() {
        for text in [
            "https://api.slack.com",
            "https://*.example.com:8443",
            "http://[::1]:8080",
            "http://127.0.0.1:9000",
        ] {
            assert_eq!(grant(text).to_string(), text);
        }
    }

    #[test]
    fn malformed_grants_say_what_is_wrong() {
        for (text, reason) in [
            ("api.slack.com", "scheme is missing"),
            ("ftp://x.com", "only http and https"),
            ("https://x.com/path", "paths"),
            ("https://user:pw@x.com", "credentials"),
            ("https://*", "whole first label"),
            ("https://*.com", "wildcard must sit below"),
            ("https://a.*.com", "whole first label"),
            ("https://*.10.0.0.1", "not a valid origin"),
        ] {
            let err = text.parse::<Grant>().unwrap_err().to_string();
            assert!(err.contains(reason), "{text}: {err}");
            assert!(err.contains(text), "{text}: {err}");
        }
    }
}
