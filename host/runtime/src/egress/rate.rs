//! Egress rate limits per provider host, so the nodes of every workflow
//! together stay within what a provider allows (Slack's one message per
//! second per channel, say). A request over the limit is not sent: the node
//! gets a `429 Too Many Requests` answer from the host, with `Retry-After`
//! and a body naming the limit, as it would from a provider that counts.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

/// How many requests each host may get in a period (`HOST=N/m`), and every
/// other host (`*=N/s`); none by default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EgressRates {
    /// For hosts not named in `hosts`.
    pub any_host: Option<Rate>,
    /// Per host name, lower case.
    pub hosts: BTreeMap<String, Rate>,
}

/// Requests per period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// How many.
    pub requests: NonZeroU32,
    /// Per second, minute or hour.
    pub per: Per,
}

/// The period of a [`Rate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Per {
    /// `/s`, the default.
    Second,
    /// `/m`.
    Minute,
    /// `/h`.
    Hour,
}

impl Rate {
    fn quota(self) -> Quota {
        match self.per {
            Per::Second => Quota::per_second(self.requests),
            Per::Minute => Quota::per_minute(self.requests),
            Per::Hour => Quota::per_hour(self.requests),
        }
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let per = match self.per {
            Per::Second => "second",
            Per::Minute => "minute",
            Per::Hour => "hour",
        };
        write!(f, "{} requests per {per}", self.requests)
    }
}

/// A rate that does not read as `HOST=N[/s|/m|/h]`.
#[derive(Debug, thiserror::Error)]
#[error(
    "egress rate `{0}`: write HOST=N for N requests per second to HOST (N at least 1), HOST=N/m per minute or HOST=N/h per hour, and *=N for every other host, comma-separated"
)]
pub struct EgressRateError(String);

impl FromStr for Rate {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (count, per) = match text.split_once('/') {
            None => (text, Per::Second),
            Some((count, "s")) => (count, Per::Second),
            Some((count, "m")) => (count, Per::Minute),
            Some((count, "h")) => (count, Per::Hour),
            Some(_) => return Err(()),
        };
        Ok(Rate {
            requests: count.trim().parse().map_err(|_| ())?,
            per,
        })
    }
}

impl FromStr for EgressRates {
    type Err = EgressRateError;

    /// Reads `api.slack.com=1,api.example.com=100/m,*=50`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut rates = EgressRates::default();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (host, rate) = entry
                .split_once('=')
                .and_then(|(host, rate)| Some((host.trim(), rate.trim().parse().ok()?)))
                .filter(|(host, _)| !host.is_empty())
                .ok_or_else(|| EgressRateError(entry.to_owned()))?;
            if host == "*" {
                rates.any_host = Some(rate);
            } else {
                rates.hosts.insert(host.to_ascii_lowercase(), rate);
            }
        }
        Ok(rates)
    }
}

/// A request over a host's rate: the rate, and when the next may go.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Over {
    pub(crate) rate: Rate,
    pub(crate) retry_after: Duration,
}

/// Hosts the `*` rate keeps a budget for each; past it, the budgets of
/// hosts not seen lately are dropped, and while it is still full every new
/// host shares one budget (so wildcard grants cannot grow it without bound).
const MAX_TRACKED_HOSTS: usize = 10_000;

/// A host as the limiter counts it: lower case, without the trailing dot of
/// a fully qualified name (`API.Slack.com.` is `api.slack.com`).
fn normalized(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// The limiters behind [`EgressRates`], shared by every step.
#[derive(Debug, Default)]
pub(crate) struct RateLimits {
    hosts: BTreeMap<String, (Rate, DefaultDirectRateLimiter)>,
    any_host: Option<(Rate, DefaultKeyedRateLimiter<String>)>,
}

impl RateLimits {
    pub(crate) fn new(rates: &EgressRates) -> RateLimits {
        RateLimits {
            hosts: rates
                .hosts
                .iter()
                .map(|(host, &rate)| (host.clone(), (rate, RateLimiter::direct(rate.quota()))))
                .collect(),
            any_host: rates
                .any_host
                .map(|rate| (rate, RateLimiter::keyed(rate.quota()))),
        }
    }

    /// Takes one request to `host` from its budget, or says why not.
    pub(crate) fn take(&self, host: &str) -> Result<(), Over> {
        let host = normalized(host);
        let over = |rate: Rate, not_until: governor::NotUntil<_>| Over {
            rate,
            retry_after: not_until.wait_time_from(DefaultClock::default().now()),
        };
        if let Some((rate, limiter)) = self.hosts.get(&host) {
            return limiter.check().map_err(|n| over(*rate, n));
        }
        match &self.any_host {
            Some((rate, limiter)) => {
                if limiter.len() >= MAX_TRACKED_HOSTS {
                    limiter.retain_recent();
                }
                let key = if limiter.len() >= MAX_TRACKED_HOSTS {
                    // Shared by every host past the bound: `*` is not a host.
                    "*".to_owned()
                } else {
                    host
                };
                limiter.check_key(&key).map_err(|n| over(*rate, n))
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_per_host_budgets_of_the_default_rate_are_bounded() {
        let limits = RateLimits::new(&"*=1/h".parse().unwrap());
        for n in 0..MAX_TRACKED_HOSTS + 50 {
            let _ = limits.take(&format!("h{n}.example"));
        }
        let (_, limiter) = limits.any_host.as_ref().unwrap();
        assert!(limiter.len() <= MAX_TRACKED_HOSTS + 1, "{}", limiter.len());
        assert!(
            limits.take("new.example").is_err(),
            "past the bound, new hosts share one spent budget"
        );
    }

    fn per_second(n: u32) -> Rate {
        Rate {
            requests: NonZeroU32::new(n).unwrap(),
            per: Per::Second,
        }
    }

    #[test]
    fn rates_read_per_host_per_period_and_for_every_other_host() {
        let rates: EgressRates = " API.slack.com=1, b.example=100/m, c.example=5/h, *=50/s "
            .parse()
            .unwrap();
        assert_eq!(rates.hosts.get("api.slack.com"), Some(&per_second(1)));
        assert_eq!(rates.hosts["b.example"].per, Per::Minute);
        assert_eq!(rates.hosts["c.example"].to_string(), "5 requests per hour");
        assert_eq!(rates.any_host, Some(per_second(50)));
        assert_eq!("".parse::<EgressRates>().unwrap(), EgressRates::default());
        for bad in ["slack", "slack=0", "slack=-1", "=3", "slack=x", "slack=3/d"] {
            let e = bad.parse::<EgressRates>().unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("HOST=N"), "{e}");
        }
    }

    #[test]
    fn a_host_gets_its_own_budget_and_others_share_the_default_per_host() {
        let limits = RateLimits::new(&"slow.example=2/m,*=1".parse().unwrap());
        assert!(limits.take("slow.example").is_ok());
        assert!(
            limits.take("SLOW.example").is_ok(),
            "host names ignore case"
        );
        let over = limits.take("slow.example").unwrap_err();
        assert_eq!(over.rate.to_string(), "2 requests per minute");
        assert!(
            over.retry_after > Duration::from_secs(1)
                && over.retry_after <= Duration::from_secs(30),
            "the next of 2 per minute is due within half a minute: {over:?}"
        );
        assert!(limits.take("a.example").is_ok());
        assert_eq!(limits.take("a.example").unwrap_err().rate, per_second(1));
        assert!(
            limits.take("b.example").is_ok(),
            "each other host has a budget of its own"
        );
        assert!(
            limits.take("slow.example.").is_err(),
            "a fully qualified name is the same host"
        );
        let none = RateLimits::new(&EgressRates::default());
        assert!((0..100).all(|_| none.take("a.example").is_ok()));
    }
}
