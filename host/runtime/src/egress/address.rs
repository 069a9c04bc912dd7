//! Which resolved addresses a node may connect to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;

/// Addresses the operator lets nodes reach although they are private
/// (config `egress.allow_private`, env `N8N_WORK_EGRESS_ALLOW_PRIVATE`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrivateAllowlist {
    nets: Vec<IpNet>,
}

/// Why an allowlist entry could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "egress.allow_private entry `{0}` is neither an IP address nor a CIDR; write `127.0.0.1`, `10.0.0.0/8` or `::1`"
)]
pub struct AllowlistError(String);

impl PrivateAllowlist {
    /// Whether the operator allows `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}

impl FromStr for PrivateAllowlist {
    type Err = AllowlistError;

    /// Parses a comma-separated list of addresses and CIDRs.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut nets = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let net = match entry.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => entry
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| AllowlistError(entry.to_owned()))?,
            };
            nets.push(net);
        }
        Ok(PrivateAllowlist { nets })
    }
}

/// Why an address is not a public unicast address, or `None` when it is.
///
/// IPv6 forms that embed an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`,
/// IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96` and 6to4 `2002::/16`)
/// are judged by the IPv4 address they carry, so `[::ffff:169.254.169.254]`
/// is the metadata address it looks like.
pub fn non_public_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let reason = match (a, b, c) {
        (169, 254, 169) if ip.octets()[3] == 254 => "cloud metadata",
        (100, 100, 100) if ip.octets()[3] == 200 => "cloud metadata",
        (0, _, _) => "\"this network\"",
        (10, _, _) => "private",
        (127, _, _) => "loopback",
        (100, 64..=127, _) => "shared address space (CGNAT)",
        (169, 254, _) => "link-local",
        (172, 16..=31, _) => "private",
        (192, 0, 0) => "IETF protocol assignment",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (192, 88, 99) => "6to4 relay",
        (192, 168, _) => "private",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved or broadcast",
        _ => return None,
    };
    Some(reason)
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = embedded_v4(ip) {
        return v4_reason(v4);
    }
    let segments = ip.segments();
    let reason = match segments {
        [0, 0, 0, 0, 0, 0, 0, 0] => "unspecified",
        [0, 0, 0, 0, 0, 0, 0, 1] => "loopback",
        [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254] => "cloud metadata",
        [0x100, 0, 0, 0, ..] => "discard-only",
        [0x2001, 0xdb8, ..] => "documentation",
        [0x2001, 0..=0x1ff, ..] => "IETF protocol assignment (Teredo, ORCHID)",
        [s, ..] if s & 0xfe00 == 0xfc00 => "unique local (private)",
        [s, ..] if s & 0xffc0 == 0xfe80 => "link-local",
        [s, ..] if s & 0xffc0 == 0xfec0 => "site-local",
        [s, ..] if s & 0xff00 == 0xff00 => "multicast",
        _ => return None,
    };
    Some(reason)
}

/// The IPv4 address carried by an IPv6 address, for the forms that carry one.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // IPv4-mapped ::ffff:a.b.c.d
        [0, 0, 0, 0, 0, 0xffff, ..] => Some(low),
        // IPv4-compatible ::a.b.c.d (deprecated); `::` and `::1` are not.
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 || lo > 1 => Some(low),
        // NAT64 well-known prefix 64:ff9b::/96 and local-use 64:ff9b:1::/48.
        [0x64, 0xff9b, 0, 0, 0, 0, ..] => Some(low),
        [0x64, 0xff9b, 1, ..] => Some(low),
        // 6to4 2002:AABB:CCDD::/48
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reason(text: &str) -> Option<&'static str> {
        non_public_reason(text.parse().unwrap())
    }

    #[test]
    fn refuses_every_non_public_range() {
        for text in [
            "127.0.0.1",
            "127.1.2.3",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "198.18.0.1",
            "192.0.0.170",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "ff02::1",
            "2001:db8::1",
            "::ffff:169.254.169.254",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "2002:7f00:1::",
            "fec0::1",
            "2001::1",
        ] {
            assert!(reason(text).is_some(), "{text} should be refused");
        }
    }

    #[test]
    fn names_the_metadata_address_in_every_disguise() {
        for text in [
            "169.254.169.254",
            "::ffff:169.254.169.254",
            "::169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert_eq!(reason(text), Some("cloud metadata"), "{text}");
        }
    }

    #[test]
    fn allows_public_addresses() {
        for text in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "2002:808:808::1",
            "64:ff9b::808:808",
        ] {
            assert_eq!(reason(text), None, "{text} should be allowed");
        }
    }

    #[test]
    fn allowlist_takes_addresses_and_cidrs() {
        let list: PrivateAllowlist = "127.0.0.1, 10.0.0.0/8,[::1]".parse().unwrap();
        assert!(list.allows("127.0.0.1".parse().unwrap()));
        assert!(!list.allows("127.0.0.2".parse().unwrap()));
        assert!(list.allows("10.200.0.1".parse().unwrap()));
        assert!(list.allows("::1".parse().unwrap()));
        let err = "127.0.0.1,localhost"
            .parse::<PrivateAllowlist>()
            .unwrap_err();
        assert!(err.to_string().contains("`localhost`"));
    }

    proptest! {
        #[test]
        fn mapped_v6_is_judged_like_its_v4(a: u8, b: u8, c: u8, d: u8) {
            let v4 = Ipv4Addr::new(a, b, c, d);
            prop_assert_eq!(
                non_public_reason(IpAddr::V6(v4.to_ipv6_mapped())),
                non_public_reason(IpAddr::V4(v4))
            );
        }

        #[test]
        fn std_private_and_loopback_are_always_refused(bits: u32) {
            let v4 = Ipv4Addr::from(bits);
            if v4.is_private() || v4.is_loopback() || v4.is_link_local() || v4.is_multicast()
                || v4.is_broadcast() || v4.is_unspecified() || v4.is_documentation() {
                prop_assert!(non_public_reason(IpAddr::V4(v4)).is_some());
            }
        }
    }
}
