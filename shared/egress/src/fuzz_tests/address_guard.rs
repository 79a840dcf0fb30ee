//! The URL and address guard of credentialed tool requests: every address in a blocked range
//! is blocked in every textual form and every IPv6 embedding, and a request to one is refused
//! before any connection even when its host is allowlisted; arbitrary URLs get a typed refusal.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use proptest::prelude::*;
use reqwest::Url;

use super::config;
use crate::secure_http::{is_blocked_ip, Policy, Request, SecureHttp, SecureHttpError};

/// The IPv4 ranges the guard documents as blocked, as (network, prefix length).
const BLOCKED_V4: &[([u8; 4], u32)] = &[
    ([0, 0, 0, 0], 8),
    ([10, 0, 0, 0], 8),
    ([100, 64, 0, 0], 10),
    ([127, 0, 0, 0], 8),
    ([169, 254, 0, 0], 16),
    ([172, 16, 0, 0], 12),
    ([192, 0, 0, 0], 24),
    ([192, 0, 2, 0], 24),
    ([192, 168, 0, 0], 16),
    ([198, 18, 0, 0], 15),
    ([198, 51, 100, 0], 24),
    ([203, 0, 113, 0], 24),
    ([224, 0, 0, 0], 4),
    ([240, 0, 0, 0], 4),
];

fn in_blocked_range(ip: Ipv4Addr) -> bool {
    let ip = u32::from(ip);
    BLOCKED_V4.iter().any(|(net, len)| {
        let mask = u32::MAX << (32 - len);
        ip & mask == u32::from(Ipv4Addr::from(*net)) & mask
    })
}

/// An address inside one of [`BLOCKED_V4`].
fn blocked_v4() -> impl Strategy<Value = Ipv4Addr> {
    (prop::sample::select(BLOCKED_V4), any::<u32>()).prop_map(|((net, len), host)| {
        let mask = u32::MAX << (32 - len);
        Ipv4Addr::from((u32::from(Ipv4Addr::from(net)) & mask) | (host & !mask))
    })
}

/// The ways a URL can spell an IPv4 address that URL parsers read as that address.
fn textual_forms(ip: Ipv4Addr) -> Vec<String> {
    let [a, b, c, d] = ip.octets();
    let n = u32::from(ip);
    let v6 = |v6: Ipv6Addr| format!("[{v6}]");
    let mapped = ip.to_ipv6_mapped();
    let [m0, m1, m2, m3, m4, m5, m6, m7] = mapped.segments();
    vec![
        ip.to_string(),
        format!("{ip}."),
        n.to_string(),
        format!("{n:#x}"),
        format!("{n:#X}"),
        format!("0{n:o}"),
        format!("{a:#x}.{b:#x}.{c:#x}.{d:#x}"),
        format!("0{a:o}.0{b:o}.0{c:o}.0{d:o}"),
        format!(
            "{a}.{}",
            (u32::from(b) << 16) | (u32::from(c) << 8) | u32::from(d)
        ),
        format!("{a}.{b}.{}", (u32::from(c) << 8) | u32::from(d)),
        format!("{a:#x}.{b}.0{c:o}.{d}"),
        v6(mapped),
        format!("[{m0:x}:{m1:x}:{m2:x}:{m3:x}:{m4:x}:{m5:x}:{m6:x}:{m7:x}]"),
        format!("[::ffff:{ip}]"),
        format!("[0:0:0:0:0:FFFF:{ip}]"),
        v6(nat64(ip)),
        v6(six_to_four(ip, 0x1234)),
        v6(ip.to_ipv6_compatible()),
    ]
}

fn nat64(ip: Ipv4Addr) -> Ipv6Addr {
    let [a, b, c, d] = ip.octets();
    Ipv6Addr::new(
        0x64,
        0xff9b,
        0,
        0,
        0,
        0,
        u16::from_be_bytes([a, b]),
        u16::from_be_bytes([c, d]),
    )
}

fn six_to_four(ip: Ipv4Addr, subnet: u16) -> Ipv6Addr {
    let [a, b, c, d] = ip.octets();
    Ipv6Addr::new(
        0x2002,
        u16::from_be_bytes([a, b]),
        u16::from_be_bytes([c, d]),
        subnet,
        0,
        0,
        0,
        1,
    )
}

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
});
static ENGINE: LazyLock<SecureHttp> = LazyLock::new(|| SecureHttp::new(Vec::new()));

fn send(allowed_hosts: Vec<String>, method: &str, url: &str) -> Result<u16, SecureHttpError> {
    let policy = Policy {
        allowed_hosts,
        // Nothing here may connect: a test that would, fails fast instead of hanging.
        timeout: std::time::Duration::from_millis(200),
        ..Policy::default()
    };
    let request = Request {
        method: method.into(),
        url: url.into(),
        headers: Default::default(),
        query: Default::default(),
        body: None,
    };
    RUNTIME
        .block_on(ENGINE.send(&policy, request))
        .map(|r| r.status)
}

proptest! {
    #![proptest_config(config(3000))]

    /// The IPv4 rule is exactly the documented ranges, for every address.
    #[test]
    fn ipv4_blocked_exactly_in_the_documented_ranges(n in any::<u32>(), blocked in blocked_v4()) {
        let ip = Ipv4Addr::from(n);
        prop_assert_eq!(is_blocked_ip(IpAddr::V4(ip)), in_blocked_range(ip), "{}", ip);
        prop_assert!(is_blocked_ip(IpAddr::V4(blocked)), "{}", blocked);
    }

    /// An IPv6 address carrying an IPv4 one (mapped, NAT64, 6to4) is blocked exactly when the
    /// IPv4 address is; the deprecated IPv4-compatible form always is.
    #[test]
    fn ipv6_embeddings_get_the_ipv4_verdict(
        ip in prop_oneof![blocked_v4(), any::<u32>().prop_map(Ipv4Addr::from)],
        subnet in any::<u16>(),
    ) {
        let verdict = is_blocked_ip(IpAddr::V4(ip));
        for v6 in [ip.to_ipv6_mapped(), nat64(ip), six_to_four(ip, subnet)] {
            prop_assert_eq!(is_blocked_ip(IpAddr::V6(v6)), verdict, "{} in {}", ip, v6);
        }
        prop_assert!(is_blocked_ip(IpAddr::V6(ip.to_ipv6_compatible())));
    }
}

proptest! {
    #![proptest_config(config(300))]

    /// A blocked IPv4 address in any textual form is refused as a blocked address before any
    /// connection, even with its host allowlisted.
    #[test]
    fn blocked_addresses_are_refused_in_every_textual_form(
        ip in blocked_v4(),
        scheme in prop::sample::select(&["http", "https"][..]),
        port in prop_oneof![Just(None), (1u16..).prop_map(Some)],
        method in prop::sample::select(&["GET", "post", "DELETE"][..]),
    ) {
        for form in textual_forms(ip) {
            let authority = match port {
                Some(p) => format!("{form}:{p}"),
                None => form.clone(),
            };
            let url = format!("{scheme}://{authority}/path?q=1");
            let parsed = Url::parse(&url).map_err(|e| TestCaseError::fail(format!("{url}: {e}")))?;
            let host = parsed.host_str().unwrap_or_default().to_owned();
            match send(vec![host.clone()], method, &url) {
                Err(SecureHttpError::BlockedAddress { host: h, .. }) => prop_assert_eq!(h, host),
                other => prop_assert!(false, "{url} ({host}): {other:?}"),
            }
        }
    }

    /// Any URL text with nothing allowlisted, or only names: a typed refusal, never a panic
    /// and never a connection.
    #[test]
    fn arbitrary_urls_are_refused_with_a_typed_error(
        url in prop_oneof![
            any::<String>(),
            "(https?|ftp|file|gopher|)://[a-z0-9.:@\\[\\]%-]{0,30}(/[ -~]{0,20})?",
        ],
        allowed in prop::collection::vec("(\\*\\.)?[a-z]{1,8}\\.(test|invalid)", 0..3),
    ) {
        match send(allowed, "GET", &url) {
            Err(SecureHttpError::BadRequest(_) | SecureHttpError::HostNotAllowed(_)) => {}
            // An allowlisted `.test`/`.invalid` name never resolves: refused in transport.
            Err(SecureHttpError::Transport(_) | SecureHttpError::Timeout) => {}
            other => prop_assert!(false, "{url:?}: {other:?}"),
        }
    }

    /// A wildcard entry allows strict subdomains only, and IP hosts only by their own entry.
    #[test]
    fn wildcards_match_names_not_addresses(
        label in "[a-z0-9-]{1,10}",
        domain in "[a-z]{1,8}\\.[a-z]{2,4}",
        ip in any::<u32>().prop_map(Ipv4Addr::from),
    ) {
        let policy = Policy { allowed_hosts: vec![format!("*.{domain}")], ..Policy::default() };
        let (sub, glued) = (format!("{label}.{domain}"), format!("{label}{domain}"));
        prop_assert!(policy.allows_host(&sub));
        prop_assert!(!policy.allows_host(&domain));
        prop_assert!(!policy.allows_host(&glued));
        prop_assert!(!policy.allows_host(&ip.to_string()));
        let exact = Policy { allowed_hosts: vec![ip.to_string()], ..Policy::default() };
        prop_assert!(exact.allows_host(&ip.to_string()));
    }
}
