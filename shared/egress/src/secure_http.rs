//! The engine behind the agent tool `http.secure_http_request`: an HTTP request to a long-tail
//! API with a credential the instance holds, made safely.
//!
//! What keeps it safe, in the order [`SecureHttp::send`] applies it:
//!
//! - **Shape**: only `http`/`https` URLs without user info, methods GET/POST/PUT/PATCH/DELETE/HEAD,
//!   and no caller-set `authorization`, `cookie`, `host`, `proxy-*`, framing or hop-by-hop headers,
//!   nor the credential's own header, query parameter or body field.
//! - **Allowlist**: the host must be in [`Policy::allowed_hosts`], on the first URL and on every
//!   redirect hop (redirects are followed here, never by reqwest).
//! - **SSRF**: no request reaches loopback, private, link-local (cloud metadata), CGNAT,
//!   multicast, reserved or unspecified addresses, see [`is_blocked_ip`]. Names are resolved by
//!   the client's own resolver, which drops blocked addresses, so the address checked is the
//!   address connected to (no DNS-rebinding window); IP literals are checked before sending; and
//!   the peer address of every response is checked again.
//! - **Limits**: one timeout for the whole call (redirects and body included), a redirect cap, a
//!   response size cap enforced while streaming.
//! - **Secrecy**: the credential is injected per hop, and only into a hop that is `https` and
//!   has the origin (scheme, host, port) of the first URL, the one the agent addressed on the
//!   credential's allowed host: a redirect to another host, even an allowed one, or to another
//!   port, goes without it. Plain `http` is refused unless the instance allows it
//!   ([`Policy::allow_plain_http`]), and even then carries no credential. The credential is never
//!   logged, never in a `Debug` output, an error or [`Response::final_url`]; occurrences of it in
//!   what the upstream sends back are replaced by `[REDACTED]` (an echo endpoint cannot hand it
//!   to the agent).
//!
//! # Name resolution and the test exemption
//!
//! reqwest's resolver sees a host name but not the port, and IP literals never reach it. So:
//!
//! - a **name** is resolved only by the client's `GuardedResolver`, which removes every blocked
//!   address unconditionally. Names never get exemptions. When nothing is left the resolver fails
//!   with a typed error that [`SecureHttp::send`] finds in the error's source chain and reports as
//!   [`SecureHttpError::BlockedAddress`] (no shared state, no race between concurrent calls);
//! - an **IP literal** is checked in `send` before the request, as `(ip, port)`: allowed when it
//!   is exactly one of the exempt socket addresses, refused when the IP is blocked.
//!
//! The exempt list exists for tests that run a fake upstream on `127.0.0.1:<port>`; production
//! passes an empty list. Likewise [`Options::resolution`] can answer names from a fixed table
//! instead of DNS (the answers are screened exactly as DNS answers are), so tests exercise names
//! that point at blocked addresses without any real lookup, and [`Options::extra_roots_der`]
//! lets a test upstream's private CA be trusted.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, LOCATION};
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};

use crate::secret::SecretString;

/// Default cap on the response body: 1 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Default timeout of a whole call, redirects included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default number of redirects followed.
pub const DEFAULT_MAX_REDIRECTS: usize = 3;

/// What replaces the credential wherever the upstream echoes it back.
const REDACTED: &str = "[REDACTED]";

/// Headers a caller may not set: identity and routing (the credential's job or the client's) and
/// message framing (a caller-set `content-length` could desynchronise the connection).
const FORBIDDEN_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "keep-alive",
    "expect",
];

/// What an instance allows an agent to call, from the instance config; checked before any
/// request is made.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Exact host names (lowercase) or IP addresses; `*.example.com` allows subdomains of
    /// `example.com` (not `example.com` itself). Empty allows nothing.
    pub allowed_hosts: Vec<String>,
    /// Injected into every request and every redirect hop; never logged, never echoed.
    pub credential: Option<Credential>,
    /// Cap on the response body; more is [`SecureHttpError::TooLarge`].
    pub max_response_bytes: usize,
    /// The whole call, redirects and body included. Cap it with the caller's deadline
    /// ([`Policy::with_deadline`]).
    pub timeout: Duration,
    /// Redirects followed; one more is [`SecureHttpError::TooManyRedirects`].
    pub max_redirects: usize,
    /// Whether plain `http` URLs may be requested at all (instance config `allow_plain_http`).
    /// Even then the credential is never sent over them.
    pub allow_plain_http: bool,
}

impl Default for Policy {
    /// Allows no host; default limits.
    fn default() -> Self {
        Self {
            allowed_hosts: Vec::new(),
            credential: None,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            timeout: DEFAULT_TIMEOUT,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            allow_plain_http: false,
        }
    }
}

impl Policy {
    /// The same policy with its timeout capped to what is left of the caller's deadline.
    pub fn with_deadline(mut self, remaining: Duration) -> Self {
        self.timeout = self.timeout.min(remaining);
        self
    }

    /// Whether `host` (as in a URL: lowercase, IPv6 in brackets) is allowed. IP hosts match an
    /// entry naming the same address; wildcards match names only.
    pub fn allows_host(&self, host: &str) -> bool {
        let host_ip = parse_ip_host(host);
        self.allowed_hosts.iter().any(|entry| {
            let entry = entry.trim().to_ascii_lowercase();
            match host_ip {
                Some(ip) => parse_ip_host(&entry) == Some(ip),
                None => match entry.strip_prefix("*.") {
                    Some(suffix) if !suffix.is_empty() => host
                        .strip_suffix(suffix)
                        .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')),
                    _ => entry == host,
                },
            }
        })
    }
}

/// A credential and where it goes. `Debug` shows the placement, never the value.
#[derive(Debug, Clone)]
pub struct Credential {
    pub placement: Placement,
    pub value: SecretString,
}

/// Where the credential is put in each request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// A header `name: prefix + value` (e.g. `authorization: Bearer <value>`).
    Header { name: String, prefix: String },
    /// A query parameter `name=value`.
    Query { name: String },
    /// A top-level field of the JSON body (a body `{}` is created when there is none). A redirect
    /// that drops the body (301/302/303) drops the field with it.
    BodyField { name: String },
}

/// What the agent asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// GET, POST, PUT, PATCH, DELETE or HEAD (any case).
    pub method: String,
    /// An absolute `http` or `https` URL.
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Appended to the URL's own query.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Sent as JSON.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
}

/// What the agent gets back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub status: u16,
    /// Lowercase names, repeated headers joined with `, `; `set-cookie` dropped.
    pub headers: BTreeMap<String, String>,
    /// The body as JSON when it parses, else `{"text": "..."}`.
    pub body: serde_json::Value,
    /// The body's bytes as received (binary downloads: media attachments). Not scrubbed of the
    /// credential like `body`: callers keep it from agents (media tools store it as an artifact).
    pub raw: Vec<u8>,
    /// The URL of the last hop, without the credential.
    pub final_url: String,
    /// Redirects followed.
    pub redirects: usize,
    /// The peer address of the last hop, when known.
    pub remote_addr: Option<String>,
}

/// Why a request was refused or failed. Messages never contain the credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecureHttpError {
    #[error("host not allowed: {0}")]
    HostNotAllowed(String),
    #[error("plain http to {0} is not allowed on this instance (allow_plain_http); use https")]
    PlainHttpNotAllowed(String),
    #[error("address {addr} of {host} is not reachable from here")]
    BlockedAddress { host: String, addr: String },
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
    #[error("request timed out")]
    Timeout,
    #[error("too many redirects")]
    TooManyRedirects,
    #[error("transport error: {0}")]
    Transport(String),
}

impl SecureHttpError {
    /// Whether trying again may succeed (only timeouts and transport failures).
    pub fn retryable(&self) -> bool {
        matches!(self, Self::Timeout | Self::Transport(_))
    }
}

/// Whether an address must never be connected to: loopback, private, link-local (including the
/// cloud metadata address 169.254.169.254), CGNAT, unspecified, broadcast, multicast, reserved,
/// documentation and benchmarking ranges, and IPv6 forms embedding any of these (IPv4-mapped,
/// IPv4-compatible, NAT64, 6to4).
pub fn is_blocked_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => blocked_v6(v6),
    }
}

fn blocked_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0 // "this network", including 0.0.0.0
        || a == 10
        || a == 127
        || (a == 100 && (64..=127).contains(&b)) // CGNAT 100.64/10
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (16..=31).contains(&b))
        || (a == 192 && b == 0 && (c == 0 || c == 2)) // IETF assignments, TEST-NET-1
        || (a == 192 && b == 168)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18/15
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224 // multicast 224/4, reserved 240/4, broadcast
}

fn blocked_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return blocked_v4(v4);
    }
    let s = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    // ::/96: unspecified, loopback and the deprecated IPv4-compatible forms.
    s[..6].iter().all(|&x| x == 0)
        // NAT64 64:ff9b::/96 carries an IPv4 address; 64:ff9b:1::/48 is local-use.
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|&x| x == 0)
            && blocked_v4(embedded_v4(s[6], s[7])))
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
        // 6to4 2002::/16 carries an IPv4 address in the next 32 bits.
        || (s[0] == 0x2002 && blocked_v4(embedded_v4(s[1], s[2])))
        || (s[0] == 0x100 && s[1..4].iter().all(|&x| x == 0)) // discard 100::/64
        || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        || (s[0] & 0xff00) == 0xff00 // multicast
}

/// A URL host as an IP address: `1.2.3.4`, `[::1]` or `::1`.
fn parse_ip_host(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// The resolver's refusal: every address of `host` was blocked.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to blocked addresses (first: {addr})")]
struct BlockedResolution {
    host: String,
    addr: IpAddr,
}

/// Where host names get their addresses.
#[derive(Debug, Clone, Default)]
pub enum Resolution {
    /// The system resolver (`tokio::net::lookup_host`): production.
    #[default]
    System,
    /// Only this table (name, lowercase without a trailing dot → addresses), like curl's
    /// `--resolve`; a name not in it has no addresses. No DNS query is ever made.
    Table(BTreeMap<String, Vec<IpAddr>>),
}

/// The client's DNS resolver: [`Resolution`] minus every blocked address. Names never get
/// exemptions (the resolver does not know the port).
#[derive(Debug, Clone, Default)]
struct GuardedResolver {
    resolution: Arc<Resolution>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let resolution = self.resolution.clone();
        Box::pin(async move {
            let found: Vec<SocketAddr> = match resolution.as_ref() {
                Resolution::System => tokio::net::lookup_host((host.as_str(), 0)).await?.collect(),
                Resolution::Table(table) => {
                    let key = host.trim_end_matches('.').to_ascii_lowercase();
                    table
                        .get(&key)
                        .into_iter()
                        .flatten()
                        .map(|ip| SocketAddr::new(*ip, 0))
                        .collect()
                }
            };
            let addrs = screen(&host, found)?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The addresses of `host` that may be connected to; an error when none may.
fn screen(
    host: &str,
    found: Vec<SocketAddr>,
) -> Result<Vec<SocketAddr>, Box<dyn StdError + Send + Sync>> {
    let first_blocked = found
        .iter()
        .map(SocketAddr::ip)
        .find(|ip| is_blocked_ip(*ip));
    let allowed: Vec<SocketAddr> = found
        .into_iter()
        .filter(|a| !is_blocked_ip(a.ip()))
        .collect();
    match (allowed.is_empty(), first_blocked) {
        (false, _) => Ok(allowed),
        (true, Some(addr)) => Err(Box::new(BlockedResolution {
            host: host.to_owned(),
            addr,
        })),
        (true, None) => Err(format!("{host} has no addresses").into()),
    }
}

/// The resolver's refusal, wherever it sits in an error's source chain.
fn find_blocked<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a BlockedResolution> {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(blocked) = err.downcast_ref::<BlockedResolution>() {
            return Some(blocked);
        }
        current = err.source();
    }
    None
}

/// Makes credentialed HTTP requests within a [`Policy`]. Build one per process and share it: it
/// holds the one client (connection pool, guarded resolver, no redirects, no proxy).
#[derive(Debug, Clone)]
pub struct SecureHttp {
    /// `None` only if the TLS stack could not be set up; every call then fails.
    client: Option<reqwest::Client>,
    exempt: Arc<[SocketAddr]>,
}

/// How the engine is built. Production uses [`SecureHttp::new`] with an empty exempt list, which
/// is `Options::default()`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// **Empty in production.** Exact socket addresses (IP *and* port) that may be reached
    /// although their IP is blocked, so tests can run a fake upstream on `127.0.0.1:<port>`. It
    /// applies only to URLs whose host is that IP literal with that port; host names are never
    /// exempt, and every other port of the IP stays blocked.
    pub exempt: Vec<SocketAddr>,
    /// Where names get their addresses (the answers are screened either way).
    pub resolution: Resolution,
    /// Trust anchors (DER certificates) besides the system's: a test upstream's private CA.
    pub extra_roots_der: Vec<Vec<u8>>,
}

impl SecureHttp {
    /// The engine with `exempt` as in [`Options::exempt`] (**empty in production**).
    pub fn new(exempt: Vec<SocketAddr>) -> Self {
        Self::with_options(Options {
            exempt,
            ..Options::default()
        })
    }

    /// The engine built with `options`.
    pub fn with_options(options: Options) -> Self {
        let Options {
            exempt,
            resolution,
            extra_roots_der,
        } = options;
        // The crypto provider the AWS SDK links, shared with reqwest's rustls (as in `App`).
        crate::install_crypto_provider();
        let resolver = GuardedResolver {
            resolution: Arc::new(resolution),
        };
        let roots: Vec<reqwest::Certificate> = extra_roots_der
            .iter()
            .filter_map(|der| reqwest::Certificate::from_der(der).ok())
            .collect();
        let builder = || {
            let mut builder = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                // A proxy would resolve names itself, out of reach of the guarded resolver.
                .no_proxy()
                .dns_resolver(Arc::new(resolver.clone()))
                .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")));
            for root in &roots {
                builder = builder.add_root_certificate(root.clone());
            }
            builder
        };
        let client = match builder().build() {
            Ok(client) => Some(client),
            Err(e) => {
                // Only the native root store can fail here; without it HTTPS fails per call.
                let error = crate::error::chain(&e);
                tracing::error!(%error, "secure http client without native roots");
                builder().tls_built_in_native_certs(false).build().ok()
            }
        };
        Self {
            client,
            exempt: exempt.into(),
        }
    }

    /// Makes `request` under `policy`: validation, allowlist and SSRF checks on every hop,
    /// credential injection, manual redirects, limits. See the module documentation.
    pub async fn send(
        &self,
        policy: &Policy,
        request: Request,
    ) -> Result<Response, SecureHttpError> {
        let secret = policy.credential.as_ref().map(|c| c.value.expose());
        match tokio::time::timeout(policy.timeout, self.run(policy, request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(scrub_error(e, secret)),
            Err(_) => Err(SecureHttpError::Timeout),
        }
    }

    async fn run(&self, policy: &Policy, request: Request) -> Result<Response, SecureHttpError> {
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| SecureHttpError::Transport("http client unavailable".into()))?;
        let mut hop = Hop::first(policy, request)?;
        // The credential belongs to the origin the agent addressed, over https only.
        let credential_origin = hop.url.origin();
        let mut redirects = 0;
        loop {
            let host = self.check_target(policy, &hop.url)?;
            let credential = policy
                .credential
                .as_ref()
                .filter(|_| hop.url.scheme() == "https" && hop.url.origin() == credential_origin);
            let response = client
                .execute(hop.build(client, credential)?)
                .await
                .map_err(|e| transport(e, &host))?;
            if let Some(peer) = response.remote_addr() {
                if is_blocked_ip(peer.ip()) && !self.exempt.contains(&peer) {
                    return Err(SecureHttpError::BlockedAddress {
                        host,
                        addr: peer.ip().to_string(),
                    });
                }
            }
            let status = response.status();
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if let (true, Some(location)) = (is_redirect(status), location) {
                if redirects >= policy.max_redirects {
                    return Err(SecureHttpError::TooManyRedirects);
                }
                hop = hop.redirect(status, &location, policy.credential.as_ref())?;
                redirects += 1;
                tracing::debug!(%host, status = status.as_u16(), redirects, "secure http redirect");
                continue;
            }
            tracing::debug!(%host, status = status.as_u16(), redirects, "secure http response");
            let remote_addr = response.remote_addr().map(|a| a.to_string());
            let headers = response_headers(response.headers());
            let bytes = read_limited(response, policy.max_response_bytes, &host).await?;
            let secret = policy.credential.as_ref().map(|c| c.value.expose());
            return Ok(finish(
                Response {
                    status: status.as_u16(),
                    headers,
                    body: parse_body(&bytes),
                    raw: bytes,
                    final_url: hop.url.to_string(),
                    redirects,
                    remote_addr,
                },
                secret,
            ));
        }
    }

    /// Allowlist, then (for IP literals) the SSRF rule with the exemption, then the scheme;
    /// returns the host.
    fn check_target(&self, policy: &Policy, url: &Url) -> Result<String, SecureHttpError> {
        let host = url
            .host_str()
            .ok_or_else(|| SecureHttpError::BadRequest("URL without host".into()))?
            .to_owned();
        if !policy.allows_host(&host) {
            return Err(SecureHttpError::HostNotAllowed(host));
        }
        if let Some(ip) = parse_ip_host(&host) {
            let port = url
                .port_or_known_default()
                .ok_or_else(|| SecureHttpError::BadRequest("URL without port".into()))?;
            if is_blocked_ip(ip) && !self.exempt.contains(&SocketAddr::new(ip, port)) {
                return Err(SecureHttpError::BlockedAddress {
                    host,
                    addr: ip.to_string(),
                });
            }
        }
        if url.scheme() == "http" && !policy.allow_plain_http {
            return Err(SecureHttpError::PlainHttpNotAllowed(host));
        }
        Ok(host)
    }
}

/// One request of the chain: the URL is kept without the credential.
#[derive(Debug)]
struct Hop {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Option<serde_json::Value>,
}

impl Hop {
    /// The first hop: the caller's request validated against the policy's credential.
    fn first(policy: &Policy, request: Request) -> Result<Self, SecureHttpError> {
        let bad = |m: &str| SecureHttpError::BadRequest(m.to_owned());
        let method = match request.method.to_ascii_uppercase().as_str() {
            "GET" => Method::GET,
            "POST" => Method::POST,
            "PUT" => Method::PUT,
            "PATCH" => Method::PATCH,
            "DELETE" => Method::DELETE,
            "HEAD" => Method::HEAD,
            _ => return Err(bad("method must be GET, POST, PUT, PATCH, DELETE or HEAD")),
        };
        let mut url = Url::parse(&request.url).map_err(|e| bad(&format!("invalid URL: {e}")))?;
        check_url_shape(&url)?;
        url.set_fragment(None);
        if !request.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &request.query {
                pairs.append_pair(k, v);
            }
        }

        let placement = policy.credential.as_ref().map(|c| &c.placement);
        let credential_header = match placement {
            Some(Placement::Header { name, .. }) => Some(name.to_ascii_lowercase()),
            _ => None,
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &request.headers {
            let lower = name.to_ascii_lowercase();
            if FORBIDDEN_HEADERS.contains(&lower.as_str())
                || lower.starts_with("proxy-")
                || credential_header.as_deref() == Some(lower.as_str())
            {
                return Err(bad(&format!("header {lower} may not be set")));
            }
            let name = HeaderName::from_bytes(lower.as_bytes())
                .map_err(|_| bad(&format!("invalid header name {lower}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| bad(&format!("invalid value for header {lower}")))?;
            headers.append(name, value);
        }

        let mut body = request.body;
        match placement {
            Some(Placement::Query { name }) => {
                if url.query_pairs().any(|(k, _)| k == name.as_str()) {
                    return Err(bad(&format!("query parameter {name} may not be set")));
                }
            }
            Some(Placement::BodyField { name }) => {
                match body.get_or_insert_with(|| serde_json::json!({})) {
                    serde_json::Value::Object(map) if map.contains_key(name) => {
                        return Err(bad(&format!("body field {name} may not be set")));
                    }
                    serde_json::Value::Object(_) => {}
                    _ => return Err(bad("body must be a JSON object")),
                }
            }
            Some(Placement::Header { .. }) | None => {}
        }
        Ok(Self {
            method,
            url,
            headers,
            body,
        })
    }

    /// The next hop after a redirect `status` to `location`.
    fn redirect(
        mut self,
        status: StatusCode,
        location: &str,
        credential: Option<&Credential>,
    ) -> Result<Self, SecureHttpError> {
        let mut next = self
            .url
            .join(location)
            .map_err(|_| SecureHttpError::Transport("redirect to an invalid location".into()))?;
        check_url_shape(&next)?;
        if self.url.scheme() == "https" && next.scheme() == "http" {
            return Err(SecureHttpError::BadRequest(
                "redirect from https to http refused".into(),
            ));
        }
        next.set_fragment(None);
        if let Some(Credential {
            placement: Placement::Query { name },
            ..
        }) = credential
        {
            strip_query_param(&mut next, name);
        }
        let to_get = matches!(
            status,
            StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER
        );
        if to_get && self.method != Method::HEAD {
            self.method = Method::GET;
            self.body = None;
            let content: Vec<HeaderName> = self
                .headers
                .keys()
                .filter(|k| k.as_str().starts_with("content-"))
                .cloned()
                .collect();
            for name in content {
                self.headers.remove(name);
            }
        }
        self.url = next;
        Ok(self)
    }

    /// The request on the wire, credential injected.
    fn build(
        &self,
        client: &reqwest::Client,
        credential: Option<&Credential>,
    ) -> Result<reqwest::Request, SecureHttpError> {
        let mut url = self.url.clone();
        let mut headers = self.headers.clone();
        let mut body = self.body.clone();
        if let Some(credential) = credential {
            let secret = credential.value.expose();
            match &credential.placement {
                Placement::Header { name, prefix } => {
                    let name = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                        .map_err(|_| {
                            SecureHttpError::BadRequest("invalid credential header name".into())
                        })?;
                    let mut value =
                        HeaderValue::from_str(&format!("{prefix}{secret}")).map_err(|_| {
                            SecureHttpError::BadRequest("invalid credential header value".into())
                        })?;
                    value.set_sensitive(true);
                    headers.insert(name, value);
                }
                Placement::Query { name } => {
                    url.query_pairs_mut().append_pair(name, secret);
                }
                Placement::BodyField { name } => {
                    if let Some(serde_json::Value::Object(map)) = body.as_mut() {
                        map.insert(name.clone(), serde_json::Value::String(secret.to_owned()));
                    }
                }
            }
        }
        let mut builder = client.request(self.method.clone(), url).headers(headers);
        if let Some(body) = &body {
            builder = builder.json(body);
        }
        builder
            .build()
            .map_err(|e| SecureHttpError::BadRequest(crate::error::chain(&e.without_url())))
    }
}

/// Scheme and user info; the host is checked per hop by [`SecureHttp::check_target`].
fn check_url_shape(url: &Url) -> Result<(), SecureHttpError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(SecureHttpError::BadRequest(
            "only http and https URLs are allowed".into(),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(SecureHttpError::BadRequest(
            "URLs with user info are not allowed".into(),
        ));
    }
    Ok(())
}

/// Removes every `name=...` pair from the query (a redirect may echo the credential).
fn strip_query_param(url: &mut Url, name: &str) {
    if !url.query_pairs().any(|(k, _)| k == name) {
        return;
    }
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    )
}

/// A reqwest failure as an error; the URL (which may carry the credential) is left out.
fn transport(e: reqwest::Error, host: &str) -> SecureHttpError {
    if let Some(blocked) = find_blocked(&e) {
        return SecureHttpError::BlockedAddress {
            host: blocked.host.clone(),
            addr: blocked.addr.to_string(),
        };
    }
    if e.is_timeout() {
        return SecureHttpError::Timeout;
    }
    SecureHttpError::Transport(format!("{host}: {}", crate::error::chain(&e.without_url())))
}

/// Reads the body, failing as soon as it exceeds `max` bytes.
async fn read_limited(
    mut response: reqwest::Response,
    max: usize,
    host: &str,
) -> Result<Vec<u8>, SecureHttpError> {
    let declared = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Err(SecureHttpError::TooLarge(max));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport(e, host))? {
        if body.len() + chunk.len() > max {
            return Err(SecureHttpError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Lowercase names, repeated headers joined, `set-cookie` dropped.
fn response_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let name = name.as_str();
        if name == "set-cookie" || name == "set-cookie2" {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes());
        out.entry(name.to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    out
}

/// JSON when it parses, else `{"text": ...}`.
fn parse_body(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| serde_json::json!({ "text": String::from_utf8_lossy(bytes) }))
}

/// The forms of the secret that may come back: as is and URL-encoded.
fn secret_forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_owned()];
    let encoded: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    if encoded != secret {
        forms.push(encoded);
    }
    forms
}

fn scrub(text: &mut String, forms: &[String]) {
    for form in forms {
        if text.contains(form.as_str()) {
            *text = text.replace(form.as_str(), REDACTED);
        }
    }
}

fn scrub_json(value: &mut serde_json::Value, forms: &[String]) {
    match value {
        serde_json::Value::String(s) => scrub(s, forms),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| scrub_json(v, forms)),
        serde_json::Value::Object(map) => {
            let entries = std::mem::take(map);
            for (mut key, mut v) in entries {
                scrub(&mut key, forms);
                scrub_json(&mut v, forms);
                map.insert(key, v);
            }
        }
        serde_json::Value::Null | serde_json::Value::Bool(_) | serde_json::Value::Number(_) => {}
    }
}

/// The response with every echo of the secret replaced.
fn finish(mut response: Response, secret: Option<&str>) -> Response {
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        return response;
    };
    let forms = secret_forms(secret);
    for value in response.headers.values_mut() {
        scrub(value, &forms);
    }
    scrub(&mut response.final_url, &forms);
    scrub_json(&mut response.body, &forms);
    response
}

/// The error with every occurrence of the secret replaced (belt and braces: no path puts it
/// there).
fn scrub_error(e: SecureHttpError, secret: Option<&str>) -> SecureHttpError {
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        return e;
    };
    let forms = secret_forms(secret);
    let clean = |mut s: String| {
        scrub(&mut s, &forms);
        s
    };
    match e {
        SecureHttpError::HostNotAllowed(h) => SecureHttpError::HostNotAllowed(clean(h)),
        SecureHttpError::PlainHttpNotAllowed(h) => SecureHttpError::PlainHttpNotAllowed(clean(h)),
        SecureHttpError::BlockedAddress { host, addr } => SecureHttpError::BlockedAddress {
            host: clean(host),
            addr,
        },
        SecureHttpError::BadRequest(m) => SecureHttpError::BadRequest(clean(m)),
        SecureHttpError::Transport(m) => SecureHttpError::Transport(clean(m)),
        other @ (SecureHttpError::TooLarge(_)
        | SecureHttpError::Timeout
        | SecureHttpError::TooManyRedirects) => other,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    use std::time::Instant;

    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    const SECRET: &str = "s3cr3t/token+value";

    /// What a fake upstream received.
    #[derive(Debug, Clone, Serialize)]
    struct Seen {
        method: String,
        target: String,
        headers: BTreeMap<String, String>,
        body: String,
    }

    /// What a fake upstream answers.
    #[derive(Debug, Clone)]
    struct Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        delay: Duration,
        content_length: bool,
    }

    impl Reply {
        fn json(value: &impl Serialize) -> Self {
            Self {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: serde_json::to_vec(value).unwrap_or_default(),
                delay: Duration::ZERO,
                content_length: true,
            }
        }

        fn redirect(status: u16, location: &str) -> Self {
            Self {
                status,
                headers: vec![("location".into(), location.into())],
                body: Vec::new(),
                delay: Duration::ZERO,
                content_length: true,
            }
        }
    }

    /// A hand-written HTTP/1.1 server on a loopback address (one request per connection), plain
    /// or TLS with a certificate for 127.0.0.1 and 127.0.0.2 from a private test CA
    /// (`testdata/`, a test-only key valid until 2126).
    struct Upstream {
        addr: SocketAddr,
        tls: bool,
        seen: Arc<Mutex<Vec<Seen>>>,
        connections: Arc<AtomicUsize>,
    }

    const TEST_CA: &[u8] = include_bytes!("testdata/secure_http_test_ca.der");
    const TEST_CERT: &[u8] = include_bytes!("testdata/secure_http_test_upstream.der");
    const TEST_KEY: &[u8] = include_bytes!("testdata/secure_http_test_upstream.key.der");

    fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocols")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(TEST_CERT.to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(TEST_KEY.to_vec())),
            )
            .expect("test certificate");
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }

    impl Upstream {
        async fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
            Self::bind("127.0.0.1", false, handler).await
        }

        async fn start_tls(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
            Self::bind("127.0.0.1", true, handler).await
        }

        async fn bind(
            ip: &str,
            tls: bool,
            handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
        ) -> Self {
            let listener = TcpListener::bind((ip, 0)).await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            let seen = Arc::new(Mutex::new(Vec::new()));
            let connections = Arc::new(AtomicUsize::new(0));
            let handler = Arc::new(handler);
            let (seen2, connections2) = (seen.clone(), connections.clone());
            let acceptor = tls.then(tls_acceptor);
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    connections2.fetch_add(1, Ordering::SeqCst);
                    let (seen, handler) = (seen2.clone(), handler.clone());
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let _ = match acceptor {
                            Some(acceptor) => match acceptor.accept(stream).await {
                                Ok(stream) => serve(stream, &seen, handler.as_ref()).await,
                                Err(e) => Err(e),
                            },
                            None => serve(stream, &seen, handler.as_ref()).await,
                        };
                    });
                }
            });
            Self {
                addr,
                tls,
                seen,
                connections,
            }
        }

        fn url(&self, path: &str) -> String {
            let scheme = if self.tls { "https" } else { "http" };
            format!("{scheme}://{}{path}", self.addr)
        }

        fn seen(&self) -> Vec<Seen> {
            self.seen.lock().expect("lock").clone()
        }

        fn connections(&self) -> usize {
            self.connections.load(Ordering::SeqCst)
        }
    }

    async fn serve(
        mut stream: impl AsyncRead + AsyncWrite + Unpin,
        seen: &Mutex<Vec<Seen>>,
        handler: &(dyn Fn(&Seen) -> Reply + Send + Sync),
    ) -> std::io::Result<()> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap_or_default().split(' ');
        let method = request_line.next().unwrap_or_default().to_owned();
        let target = request_line.next().unwrap_or_default().to_owned();
        let headers: BTreeMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = buf[head_end + 4..].to_vec();
        while body.len() < length {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        let request = Seen {
            method,
            target,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        seen.lock().expect("lock").push(request.clone());
        let reply = handler(&request);
        tokio::time::sleep(reply.delay).await;
        let mut out = format!("HTTP/1.1 {} Fake\r\nconnection: close\r\n", reply.status);
        for (k, v) in &reply.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        if reply.content_length {
            out.push_str(&format!("content-length: {}\r\n", reply.body.len()));
        }
        out.push_str("\r\n");
        stream.write_all(out.as_bytes()).await?;
        stream.write_all(&reply.body).await?;
        stream.shutdown().await
    }

    /// Echoes what it received as JSON, plus the authorization header and a cookie.
    async fn echo() -> Upstream {
        Upstream::start(echo_reply).await
    }

    /// [`echo`] over TLS.
    async fn echo_tls() -> Upstream {
        Upstream::start_tls(echo_reply).await
    }

    fn echo_reply(seen: &Seen) -> Reply {
        let mut reply = Reply::json(seen);
        let auth = seen
            .headers
            .get("authorization")
            .cloned()
            .unwrap_or_default();
        reply.headers.push(("x-echo-auth".into(), auth));
        reply
            .headers
            .push(("set-cookie".into(), "session=abc".into()));
        reply.headers.push(("X-Mixed-Case".into(), "yes".into()));
        reply
    }

    /// The engine, with `exempt`'s addresses exempt and the test CA trusted.
    fn engine(exempt: &[&Upstream]) -> SecureHttp {
        SecureHttp::with_options(Options {
            exempt: exempt.iter().map(|u| u.addr).collect(),
            extra_roots_der: vec![TEST_CA.to_vec()],
            ..Options::default()
        })
    }

    /// The same policy with plain http allowed.
    fn plain(mut p: Policy) -> Policy {
        p.allow_plain_http = true;
        p
    }

    fn policy(hosts: &[&str], placement: Option<Placement>) -> Policy {
        Policy {
            allowed_hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            credential: placement.map(|placement| Credential {
                placement,
                value: SecretString::from(SECRET),
            }),
            ..Policy::default()
        }
    }

    fn bearer() -> Option<Placement> {
        Some(Placement::Header {
            name: "Authorization".into(),
            prefix: "Bearer ".into(),
        })
    }

    fn request(method: &str, url: &str) -> Request {
        Request {
            method: method.into(),
            url: url.into(),
            headers: BTreeMap::new(),
            query: BTreeMap::new(),
            body: None,
        }
    }

    fn assert_no_secret(response: &Response) {
        let text = serde_json::to_string(response).expect("serialize");
        let encoded: String = form_urlencoded::byte_serialize(SECRET.as_bytes()).collect();
        assert!(!text.contains(SECRET), "secret in {text}");
        assert!(!text.contains(&encoded), "encoded secret in {text}");
    }

    fn seen_body(seen: &Seen) -> serde_json::Value {
        serde_json::from_str(&seen.body).expect("json body")
    }

    #[tokio::test]
    async fn header_credential_reaches_upstream_not_the_response() {
        let up = echo_tls().await;
        let http = engine(&[&up]);
        let mut req = request("get", &up.url("/v1/items?page=2"));
        req.headers.insert("X-Trace".into(), "t-1".into());
        req.query.insert("filter".into(), "open".into());
        let response = http
            .send(&policy(&["127.0.0.1"], bearer()), req)
            .await
            .expect("send");

        let seen = up.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].method, "GET");
        assert_eq!(seen[0].target, "/v1/items?page=2&filter=open");
        assert_eq!(seen[0].headers["authorization"], format!("Bearer {SECRET}"));
        assert_eq!(seen[0].headers["x-trace"], "t-1");

        assert_eq!(response.status, 200);
        assert_eq!(response.redirects, 0);
        assert_eq!(response.final_url, up.url("/v1/items?page=2&filter=open"));
        assert_eq!(response.remote_addr, Some(up.addr.to_string()));
        assert!(!response.headers.contains_key("set-cookie"));
        assert_eq!(response.headers["x-mixed-case"], "yes");
        assert_eq!(response.headers["x-echo-auth"], "Bearer [REDACTED]");
        assert_eq!(
            response.body["headers"]["authorization"],
            "Bearer [REDACTED]"
        );
        assert_eq!(response.body["headers"]["x-trace"], "t-1");
        assert_no_secret(&response);
    }

    #[tokio::test]
    async fn query_credential_reaches_upstream_not_the_response() {
        let up = echo_tls().await;
        let http = engine(&[&up]);
        let placement = Some(Placement::Query {
            name: "api_key".into(),
        });
        let response = http
            .send(
                &policy(&["127.0.0.1"], placement),
                request("GET", &up.url("/q?a=1")),
            )
            .await
            .expect("send");

        let encoded: String = form_urlencoded::byte_serialize(SECRET.as_bytes()).collect();
        assert_eq!(up.seen()[0].target, format!("/q?a=1&api_key={encoded}"));
        assert_eq!(response.final_url, up.url("/q?a=1"));
        assert!(response.body["target"]
            .as_str()
            .is_some_and(|t| t.ends_with("api_key=[REDACTED]")));
        assert_no_secret(&response);
    }

    #[tokio::test]
    async fn body_credential_reaches_upstream_not_the_response() {
        let up = echo_tls().await;
        let http = engine(&[&up]);
        let p = policy(
            &["127.0.0.1"],
            Some(Placement::BodyField {
                name: "token".into(),
            }),
        );
        let mut req = request("POST", &up.url("/b"));
        req.body = Some(serde_json::json!({ "text": "hi" }));
        let response = http.send(&p, req).await.expect("send");
        let seen = up.seen();
        assert_eq!(
            seen_body(&seen[0]),
            serde_json::json!({ "text": "hi", "token": SECRET })
        );
        assert_eq!(seen[0].headers["content-type"], "application/json");
        assert_no_secret(&response);

        // No body: one is created for the credential.
        let response = http
            .send(&p, request("PUT", &up.url("/b")))
            .await
            .expect("send");
        assert_eq!(
            seen_body(&up.seen()[1]),
            serde_json::json!({ "token": SECRET })
        );
        assert_no_secret(&response);
    }

    #[tokio::test]
    async fn host_outside_the_allowlist_is_refused_without_connecting() {
        let up = echo().await;
        let http = engine(&[&up]);
        let err = http
            .send(
                &policy(&["api.example.com", "*.example.com"], bearer()),
                request("GET", &up.url("/")),
            )
            .await
            .expect_err("refused");
        assert_eq!(err, SecureHttpError::HostNotAllowed("127.0.0.1".into()));
        assert!(!err.retryable());
        assert_eq!(up.connections(), 0);
    }

    #[test]
    fn allowlist_matching() {
        let p = policy(
            &[
                "api.example.com",
                "*.corp.example",
                "10.1.2.3",
                "[2001:db8::1]",
            ],
            None,
        );
        for (host, allowed) in [
            ("api.example.com", true),
            ("API.example.com", false), // URLs are lowercased before this check
            ("example.com", false),
            ("evil-api.example.com", false),
            ("api.example.com.evil.net", false),
            ("a.corp.example", true),
            ("a.b.corp.example", true),
            ("corp.example", false),
            ("xcorp.example", false),
            ("10.1.2.3", true),
            ("10.1.2.4", false),
            ("[2001:db8::1]", true),
            ("[2001:db8:0::1]", true),
        ] {
            assert_eq!(p.allows_host(host), allowed, "{host}");
        }
        assert!(!Policy::default().allows_host("api.example.com"));
        assert!(!policy(&["*"], None).allows_host("api.example.com"));
    }

    #[tokio::test]
    async fn blocked_addresses_are_refused() {
        let exempt_up = echo().await;
        let other_loopback = echo().await; // listening, but not exempt
        let http = engine(&[&exempt_up]);
        // Plain http allowed: what refuses these is the address, not the scheme.
        let p = plain(policy(
            &[
                "127.0.0.1",
                "10.0.0.1",
                "169.254.169.254",
                "::1",
                "::ffff:127.0.0.1",
                "localhost",
            ],
            bearer(),
        ));
        let cases = [
            (other_loopback.url("/"), "127.0.0.1", vec!["127.0.0.1"]),
            ("http://10.0.0.1/".to_owned(), "10.0.0.1", vec!["10.0.0.1"]),
            (
                "http://169.254.169.254/latest/meta-data/".to_owned(),
                "169.254.169.254",
                vec!["169.254.169.254"],
            ),
            ("http://[::1]/".to_owned(), "[::1]", vec!["::1"]),
            (
                // The exempt port, through the mapped form: exemptions are exact.
                format!("http://[::ffff:127.0.0.1]:{}/", exempt_up.addr.port()),
                "[::ffff:7f00:1]",
                vec!["::ffff:127.0.0.1"],
            ),
            (
                // A name resolving to loopback, on the exempt port: names are never exempt.
                format!("http://localhost:{}/", exempt_up.addr.port()),
                "localhost",
                vec!["127.0.0.1", "::1"],
            ),
        ];
        for (url, host, addrs) in cases {
            let err = http
                .send(&p, request("GET", &url))
                .await
                .expect_err("refused");
            match &err {
                SecureHttpError::BlockedAddress { host: h, addr } => {
                    assert_eq!(h, host, "{url}");
                    assert!(addrs.contains(&addr.as_str()), "{url}: {addr}");
                }
                other => panic!("{url}: {other:?}"),
            }
            assert!(!err.retryable());
        }
        assert_eq!(other_loopback.connections(), 0);
        assert_eq!(exempt_up.connections(), 0);
    }

    /// An exempt upstream (TLS or not) that redirects according to the path.
    async fn redirector(non_exempt: SocketAddr, tls: bool) -> Upstream {
        Upstream::bind("127.0.0.1", tls, move |seen| {
            let path = seen.target.split('?').next().unwrap_or_default();
            match path {
                "/to-loopback" => Reply::redirect(302, &format!("http://{non_exempt}/")),
                "/to-metadata" => Reply::redirect(302, "http://169.254.169.254/latest/meta-data/"),
                "/to-outside" => Reply::redirect(301, "http://evil.example.net/steal"),
                "/to-localhost" => Reply::redirect(
                    307,
                    &format!("http://localhost:{}/landing", non_exempt.port()),
                ),
                "/see-other" => Reply::redirect(303, "/landing?from=303"),
                "/temporary" => Reply::redirect(307, "landing"),
                "/echo-key" => Reply::redirect(302, "/landing?api_key=echoed&x=1"),
                _ if path.starts_with("/hop/") => {
                    let n: usize = path[5..].parse().unwrap_or(0);
                    if n == 0 {
                        Reply::json(seen)
                    } else {
                        Reply::redirect(302, &format!("/hop/{}", n - 1))
                    }
                }
                _ => Reply::json(seen),
            }
        })
        .await
    }

    #[tokio::test]
    async fn redirects_to_blocked_or_unlisted_hosts_are_refused() {
        let target = echo().await; // loopback, not exempt
        let up = redirector(target.addr, false).await;
        let http = engine(&[&up]);
        let p = plain(policy(
            &["127.0.0.1", "169.254.169.254", "localhost"],
            bearer(),
        ));

        let blocked = |host: &str, addrs: &[&str], err: &SecureHttpError| {
            matches!(err, SecureHttpError::BlockedAddress { host: h, addr }
                if h == host && addrs.contains(&addr.as_str()))
        };
        for path in [
            "/to-loopback",
            "/to-metadata",
            "/to-outside",
            "/to-localhost",
        ] {
            let err = http
                .send(&p, request("POST", &up.url(path)))
                .await
                .expect_err("refused");
            let refused_as_expected = match path {
                "/to-loopback" => blocked("127.0.0.1", &["127.0.0.1"], &err),
                "/to-metadata" => blocked("169.254.169.254", &["169.254.169.254"], &err),
                "/to-outside" => err == SecureHttpError::HostNotAllowed("evil.example.net".into()),
                // A name resolving to loopback: refused by the resolver, never exempt.
                _ => blocked("localhost", &["127.0.0.1", "::1"], &err),
            };
            assert!(refused_as_expected, "{path}: {err:?}");
        }
        assert_eq!(up.seen().len(), 4);
        assert_eq!(target.connections(), 0);
    }

    /// Whether the credential (as is or URL-encoded) is anywhere in what an upstream received.
    fn carries_secret(seen: &Seen) -> bool {
        let text = serde_json::to_string(seen).expect("serialize");
        let encoded: String = form_urlencoded::byte_serialize(SECRET.as_bytes()).collect();
        text.contains(SECRET) || text.contains(&encoded)
    }

    #[tokio::test]
    async fn the_credential_never_leaves_https_or_its_host() {
        // Another allowed host (127.0.0.2) and another port of the same host, both TLS.
        let other_host = Upstream::bind("127.0.0.2", true, echo_reply).await;
        let other_port = echo_tls().await;
        let plain_up = echo().await;
        let (to_host, to_port) = (other_host.url("/landing"), other_port.url("/landing"));
        let first = Upstream::start_tls(move |seen| {
            match seen.target.split('?').next().unwrap_or_default() {
                "/to-other-host" => Reply::redirect(307, &to_host),
                "/to-other-port" => Reply::redirect(307, &to_port),
                "/same-origin" => Reply::redirect(307, "/landing"),
                _ => echo_reply(seen),
            }
        })
        .await;
        let http = engine(&[&first, &other_host, &other_port, &plain_up]);
        let placements = [
            bearer(),
            Some(Placement::Query {
                name: "api_key".into(),
            }),
            Some(Placement::BodyField {
                name: "token".into(),
            }),
        ];
        for placement in &placements {
            let p = policy(&["127.0.0.1", "127.0.0.2"], placement.clone());
            for (path, target) in [
                ("/to-other-host", &other_host),
                ("/to-other-port", &other_port),
                ("/same-origin", &first),
            ] {
                let before = (first.seen().len(), target.seen().len());
                let response = http
                    .send(&p, request("POST", &first.url(path)))
                    .await
                    .expect("send");
                assert_eq!(response.redirects, 1, "{path}");
                assert_no_secret(&response);
                assert!(
                    carries_secret(&first.seen()[before.0]),
                    "{placement:?}: the configured origin gets the credential"
                );
                let landed = target.seen().last().cloned().expect("landed");
                assert_eq!(landed.target.split('?').next(), Some("/landing"));
                let same_origin = path == "/same-origin";
                assert_eq!(
                    carries_secret(&landed),
                    same_origin,
                    "{placement:?} {path}: the credential follows only a same-origin redirect"
                );
                if !same_origin {
                    assert_eq!(target.seen().len(), before.1 + 1);
                }
            }

            // Plain http: refused unless the instance allows it, and then sent bare.
            let before = plain_up.connections();
            let err = http
                .send(&p, request("POST", &plain_up.url("/bare")))
                .await
                .expect_err("plain http refused");
            assert_eq!(
                err,
                SecureHttpError::PlainHttpNotAllowed("127.0.0.1".into())
            );
            assert_eq!(plain_up.connections(), before, "refused before connecting");
            let response = http
                .send(&plain(p.clone()), request("POST", &plain_up.url("/bare")))
                .await
                .expect("allowed plain http");
            assert_eq!(response.status, 200);
            let seen = plain_up.seen().last().cloned().expect("seen");
            assert!(
                !carries_secret(&seen),
                "{placement:?}: no credential over http"
            );
        }
    }

    /// What one SSRF corpus case did: refused (how), or escaped.
    fn refusal(result: &Result<Response, SecureHttpError>) -> Option<&'static str> {
        match result {
            Err(SecureHttpError::BlockedAddress { .. }) => Some("blocked address"),
            Err(SecureHttpError::HostNotAllowed(_)) => Some("host not allowed"),
            Err(SecureHttpError::BadRequest(_)) => Some("bad request"),
            // Anything else reached (or tried to reach) the network.
            _ => None,
        }
    }

    /// The guard's verdict on `url` with no network at all: shape, allowlist, the IP-literal rule
    /// and, for names, the pinned answers as the resolver screens them.
    fn guard_refuses(
        http: &SecureHttp,
        p: &Policy,
        table: &BTreeMap<String, Vec<IpAddr>>,
        url: &str,
    ) -> bool {
        let Ok(hop) = Hop::first(p, request("GET", url)) else {
            return true;
        };
        let Ok(host) = http.check_target(p, &hop.url) else {
            return true;
        };
        if parse_ip_host(&host).is_some() {
            return false;
        }
        let key = host.trim_end_matches('.').to_ascii_lowercase();
        let found = table
            .get(&key)
            .into_iter()
            .flatten()
            .map(|ip| SocketAddr::new(*ip, 0))
            .collect();
        screen(&host, found).is_err()
    }

    #[tokio::test]
    async fn ssrf_corpus_has_no_escapes() {
        // A loopback trap no case may reach, an exempt upstream whose exemption no other
        // spelling may borrow, and an exempt redirector pointing at blocked loopback spellings.
        // Each case is first judged by the guard without network, and only sent through the
        // client once the guard refuses it: a broken guard fails this test without sending
        // anything to a non-loopback address.
        let trap = echo().await;
        let exempt = echo().await;
        let (t, e) = (trap.addr.port(), exempt.addr.port());
        let redirect_targets: Vec<String> = vec![
            format!("http://2130706433:{t}/"),
            format!("http://0x7f.1:{t}/"),
            format!("http://[::ffff:7f00:1]:{t}/"),
            format!("http://[::1]:{t}/"),
            format!("http://0.0.0.0:{t}/"),
            format!("http://rebind.test:{t}/"),
            format!("http://localhost:{e}/"),
            format!("http://mapped.test:{t}/"),
            format!("http://[::ffff:127.0.0.1]:{e}/"),
        ];
        let targets = redirect_targets.clone();
        let redirector = Upstream::start(move |seen| {
            let i: usize = seen.target.trim_start_matches("/r/").parse().unwrap_or(0);
            Reply::redirect(302, &targets[i])
        })
        .await;

        // Names answer from a table (no DNS query is made), pointing at blocked ranges.
        let ip = |s: &str| -> IpAddr { s.parse().expect("ip") };
        let table: BTreeMap<String, Vec<IpAddr>> = [
            ("localhost", vec![ip("127.0.0.1"), ip("::1")]),
            ("rebind.test", vec![ip("127.0.0.1")]),
            ("metadata.test", vec![ip("169.254.169.254")]),
            ("metadata.google.internal", vec![ip("169.254.169.254")]),
            ("private.test", vec![ip("10.0.0.1"), ip("fd00::1")]),
            ("mapped.test", vec![ip("::ffff:127.0.0.1")]),
            ("nat64.test", vec![ip("64:ff9b::a9fe:a9fe")]),
            ("zero.test", vec![ip("0.0.0.0")]),
        ]
        .into_iter()
        .map(|(name, ips)| (name.to_owned(), ips))
        .collect();
        let http = SecureHttp::with_options(Options {
            exempt: vec![exempt.addr, redirector.addr],
            resolution: Resolution::Table(table.clone()),
            extra_roots_der: Vec::new(),
        });
        // Every target host is allowed, so what refuses it is the address guard (or the URL's
        // shape), never the allowlist; plain http is allowed so the scheme refuses nothing.
        let mut hosts: Vec<String> = [
            "127.0.0.1",
            "127.0.0.2",
            "0.0.0.0",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "fd00::1",
            "fd12::1",
            "fe80::1",
            "fd00:ec2::254",
            "169.254.169.254",
            "::ffff:169.254.169.254",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "rebind.test.",
        ]
        .iter()
        .map(|h| (*h).to_owned())
        .collect();
        hosts.extend(table.keys().cloned());
        let mut p = plain(policy(
            &hosts.iter().map(String::as_str).collect::<Vec<_>>(),
            bearer(),
        ));
        p.timeout = Duration::from_secs(2);

        let mut corpus: Vec<String> = [
            // Loopback, spelled every way a URL parser accepts.
            "2130706433",
            "0177.0.0.1",
            "0x7f.1",
            "127.1",
            "0x7f000001",
            "017700000001",
            "127.000.000.001",
            "127.0.1",
            "%31%32%37.0.0.1",
            "%31%32%37%2E%30%2E%30%2E%31",
            "127.0.0.1.",
            "[::ffff:127.0.0.1]",
            "[0:0:0:0:0:ffff:7f00:1]",
            "[::127.0.0.1]",
            "[::1]",
            "[0:0:0:0:0:0:0:1]",
            "[64:ff9b::7f00:1]",
            "[2002:7f00:1::]",
            "0.0.0.0",
            "0",
            "[::]",
            "127.0.0.2",
            // Names resolving to blocked ranges, in any case, with a trailing dot, encoded.
            "localhost",
            "LOCALHOST",
            "%6c%6f%63%61%6c%68%6f%73%74",
            "rebind.test",
            "ReBiNd.TeSt",
            "rebind.test.",
            "mapped.test",
            "zero.test",
        ]
        .iter()
        .map(|h| format!("http://{h}:{t}/"))
        .collect();
        corpus.extend(
            [
                // Metadata, link-local, private, CGNAT, multicast, broadcast.
                "169.254.169.254",
                "0251.0376.0251.0376",
                "2852039166",
                "0xa9fea9fe",
                "[::ffff:169.254.169.254]",
                "[::ffff:a9fe:a9fe]",
                "[64:ff9b::a9fe:a9fe]",
                "[fd00:ec2::254]",
                "[fd00::1]",
                "[fd12::1]",
                "[fe80::1]",
                "10.0.0.1",
                "012.0.0.1",
                "172.16.0.1",
                "192.168.1.1",
                "100.64.0.1",
                "224.0.0.1",
                "255.255.255.255",
                "metadata.test",
                "metadata.google.internal",
                "private.test",
                "nat64.test",
            ]
            .iter()
            .map(|h| format!("http://{h}/latest/meta-data/")),
        );
        corpus.extend([
            // User info and parser tricks.
            "http://rebind.test@evil.test/".to_owned(),
            format!("http://user:pw@127.0.0.1:{t}/"),
            format!("http://evil.test#@127.0.0.1:{t}/"),
            format!("http://evil.test\\@127.0.0.1:{t}/"),
            format!("http://127.0.0.1:{t}\\@evil.test/"),
            "http://[fe80::1%25lo]/".to_owned(),
            "http://127.0.0.1.evil.test/".to_owned(),
            // TLS does not change the address rules.
            format!("https://2130706433:{t}/"),
            format!("https://[::ffff:7f00:1]:{t}/"),
            // The exempt port under any other spelling or name.
            format!("http://[::ffff:127.0.0.1]:{e}/"),
            format!("http://localhost:{e}/"),
            format!("http://0.0.0.0:{e}/"),
            format!("http://[::]:{e}/"),
            format!("http://127.0.0.2:{e}/"),
            format!("http://rebind.test:{e}/"),
        ]);

        let mut escapes = Vec::new();
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        let preflight: Vec<&String> = corpus
            .iter()
            .chain(&redirect_targets)
            .filter(|url| !guard_refuses(&http, &p, &table, url))
            .collect();
        assert!(
            preflight.is_empty(),
            "the guard lets these through (not sent): {preflight:#?}"
        );
        // Redirects from an allowed, exempt upstream to blocked places.
        corpus.extend((0..redirect_targets.len()).map(|i| redirector.url(&format!("/r/{i}"))));
        for url in &corpus {
            let result = http.send(&p, request("GET", url)).await;
            match refusal(&result) {
                Some(kind) => *kinds.entry(kind).or_default() += 1,
                None => escapes.push(format!("{url}: {result:?}")),
            }
        }
        println!(
            "SSRF corpus: {} cases, {} escapes, refusals {kinds:?}",
            corpus.len(),
            escapes.len()
        );
        assert!(corpus.len() >= 40, "{} cases", corpus.len());
        assert!(escapes.is_empty(), "escapes: {escapes:#?}");
        assert_eq!(trap.connections(), 0, "the trap was reached");
        assert_eq!(exempt.connections(), 0, "an exemption was borrowed");
        assert_eq!(redirector.seen().len(), redirect_targets.len());
    }

    #[tokio::test]
    async fn redirect_chain_is_capped() {
        let up = redirector(up_unused(), true).await;
        let http = engine(&[&up]);
        let p = policy(&["127.0.0.1"], bearer());

        let ok = http
            .send(&p, request("GET", &up.url("/hop/3")))
            .await
            .expect("three redirects are allowed");
        assert_eq!(ok.redirects, 3);
        assert_eq!(ok.final_url, up.url("/hop/0"));
        assert_eq!(ok.body["target"], "/hop/0");
        // The credential went to every hop.
        assert!(up
            .seen()
            .iter()
            .all(|s| s.headers["authorization"] == format!("Bearer {SECRET}")));

        let before = up.seen().len();
        let err = http
            .send(&p, request("GET", &up.url("/hop/4")))
            .await
            .expect_err("four are not");
        assert_eq!(err, SecureHttpError::TooManyRedirects);
        assert_eq!(up.seen().len() - before, 4);
    }

    fn up_unused() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 9))
    }

    #[tokio::test]
    async fn see_other_turns_post_into_get_and_307_keeps_it() {
        let up = redirector(up_unused(), true).await;
        let http = engine(&[&up]);
        let p = policy(&["127.0.0.1"], bearer());
        let mut req = request("POST", &up.url("/see-other"));
        req.body = Some(serde_json::json!({ "a": 1 }));
        req.headers
            .insert("Content-Type".into(), "application/json".into());

        let response = http.send(&p, req.clone()).await.expect("send");
        assert_eq!(response.redirects, 1);
        assert_eq!(response.final_url, up.url("/landing?from=303"));
        let seen = up.seen();
        assert_eq!(seen[0].method, "POST");
        assert_eq!(seen[0].body, r#"{"a":1}"#);
        assert_eq!(seen[1].method, "GET");
        assert_eq!(seen[1].target, "/landing?from=303");
        assert_eq!(seen[1].body, "");
        assert!(!seen[1].headers.contains_key("content-type"));
        assert_eq!(seen[1].headers["authorization"], format!("Bearer {SECRET}"));

        req.url = up.url("/temporary");
        let response = http.send(&p, req).await.expect("send");
        assert_eq!(response.final_url, up.url("/landing"));
        let seen = up.seen();
        assert_eq!(seen[3].method, "POST");
        assert_eq!(seen[3].body, r#"{"a":1}"#);
    }

    #[tokio::test]
    async fn query_credential_echoed_in_a_redirect_is_not_duplicated_or_returned() {
        let up = redirector(up_unused(), true).await;
        let http = engine(&[&up]);
        let p = policy(
            &["127.0.0.1"],
            Some(Placement::Query {
                name: "api_key".into(),
            }),
        );
        let response = http
            .send(&p, request("GET", &up.url("/echo-key")))
            .await
            .expect("send");
        let encoded: String = form_urlencoded::byte_serialize(SECRET.as_bytes()).collect();
        assert_eq!(
            up.seen()[1].target,
            format!("/landing?x=1&api_key={encoded}")
        );
        assert_eq!(response.final_url, up.url("/landing?x=1"));
        assert_no_secret(&response);
    }

    #[tokio::test]
    async fn large_responses_are_refused() {
        let up = Upstream::start(|seen| Reply {
            status: 200,
            headers: Vec::new(),
            body: vec![b'x'; 4096],
            delay: Duration::ZERO,
            // `/streamed` has no content-length: the limit is hit while reading.
            content_length: !seen.target.starts_with("/streamed"),
        })
        .await;
        let http = engine(&[&up]);
        let mut p = plain(policy(&["127.0.0.1"], None));
        p.max_response_bytes = 1000;
        for path in ["/declared", "/streamed"] {
            let err = http
                .send(&p, request("GET", &up.url(path)))
                .await
                .expect_err("too large");
            assert_eq!(err, SecureHttpError::TooLarge(1000), "{path}");
        }
        p.max_response_bytes = 4096;
        let ok = http
            .send(&p, request("GET", &up.url("/streamed")))
            .await
            .expect("at the limit");
        assert_eq!(ok.body["text"].as_str().map(str::len), Some(4096));
    }

    #[tokio::test]
    async fn slow_upstream_times_out() {
        let up = Upstream::start(|seen| {
            let mut reply = Reply::json(seen);
            reply.delay = Duration::from_secs(3);
            reply
        })
        .await;
        let http = engine(&[&up]);
        let p = plain(policy(&["127.0.0.1"], bearer())).with_deadline(Duration::from_millis(300));
        assert_eq!(p.timeout, Duration::from_millis(300));
        let started = Instant::now();
        let err = http
            .send(&p, request("GET", &up.url("/slow")))
            .await
            .expect_err("timeout");
        assert_eq!(err, SecureHttpError::Timeout);
        assert!(err.retryable());
        assert!(started.elapsed() < Duration::from_millis(1500));
    }

    #[tokio::test]
    async fn bad_requests_are_refused_before_connecting() {
        let up = echo().await;
        let http = engine(&[&up]);
        let header = policy(
            &["127.0.0.1"],
            Some(Placement::Header {
                name: "X-Api-Key".into(),
                prefix: String::new(),
            }),
        );
        let query = policy(
            &["127.0.0.1"],
            Some(Placement::Query { name: "key".into() }),
        );
        let body = policy(
            &["127.0.0.1"],
            Some(Placement::BodyField {
                name: "token".into(),
            }),
        );
        let with_header = |name: &str| {
            let mut r = request("GET", &up.url("/"));
            r.headers.insert(name.into(), "x".into());
            r
        };
        let mut cases = vec![
            (&header, with_header("Authorization")),
            (&header, with_header("authorization")),
            (&header, with_header("Cookie")),
            (&header, with_header("Host")),
            (&header, with_header("Proxy-Authorization")),
            (&header, with_header("Content-Length")),
            (&header, with_header("x-api-key")),
            (&header, with_header("bad header")),
            (&header, request("TRACE", &up.url("/"))),
            (&header, request("GET", "ftp://127.0.0.1/")),
            (&header, request("GET", "file:///etc/passwd")),
            (&header, request("GET", "not a url")),
            (&header, request("GET", &format!("http://u:p@{}/", up.addr))),
            (&query, request("GET", &up.url("/?key=mine"))),
        ];
        let mut r = request("GET", &up.url("/"));
        r.query.insert("key".into(), "mine".into());
        cases.push((&query, r));
        let mut r = request("POST", &up.url("/"));
        r.body = Some(serde_json::json!({ "token": "mine" }));
        cases.push((&body, r));
        let mut r = request("POST", &up.url("/"));
        r.body = Some(serde_json::json!(["not", "an", "object"]));
        cases.push((&body, r));

        for (p, req) in cases {
            let label = format!("{} {} {:?}", req.method, req.url, req.headers);
            let err = http.send(p, req).await.expect_err("bad request");
            assert!(
                matches!(err, SecureHttpError::BadRequest(_)),
                "{label}: {err:?}"
            );
            assert!(!err.retryable());
        }
        assert_eq!(up.connections(), 0);
    }

    #[test]
    fn https_to_http_redirect_is_refused() {
        let p = policy(&["api.example.com"], bearer());
        let hop = Hop::first(&p, request("GET", "https://api.example.com/a")).expect("hop");
        let err = hop
            .redirect(StatusCode::FOUND, "http://api.example.com/b", None)
            .expect_err("downgrade");
        assert!(matches!(err, SecureHttpError::BadRequest(_)));
    }

    #[tokio::test]
    async fn non_json_bodies_come_back_as_text() {
        let up = Upstream::start(|_| Reply {
            status: 404,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: b"not found".to_vec(),
            delay: Duration::ZERO,
            content_length: true,
        })
        .await;
        let http = engine(&[&up]);
        let response = http
            .send(
                &plain(policy(&["127.0.0.1"], None)),
                request("GET", &up.url("/x")),
            )
            .await
            .expect("send");
        assert_eq!(response.status, 404);
        assert_eq!(response.body, serde_json::json!({ "text": "not found" }));
    }

    #[test]
    fn ip_classifier() {
        let cases: &[(&str, bool)] = &[
            ("127.0.0.1", true),
            ("127.255.255.254", true),
            ("10.0.0.1", true),
            ("10.255.255.255", true),
            ("172.16.0.1", true),
            ("172.31.255.255", true),
            ("172.15.255.255", false),
            ("172.32.0.0", false),
            ("192.168.1.1", true),
            ("169.254.169.254", true),
            ("169.254.0.1", true),
            ("0.0.0.0", true),
            ("0.1.2.3", true),
            ("100.64.0.1", true),
            ("100.127.255.255", true),
            ("100.63.255.255", false),
            ("100.128.0.0", false),
            ("192.0.0.1", true),
            ("192.0.2.1", true),
            ("198.18.0.1", true),
            ("198.19.255.255", true),
            ("198.20.0.0", false),
            ("224.0.0.1", true),
            ("239.255.255.250", true),
            ("240.0.0.1", true),
            ("255.255.255.255", true),
            ("8.8.8.8", false),
            ("1.1.1.1", false),
            ("93.184.216.34", false),
            ("192.0.1.1", false),
            ("::", true),
            ("::1", true),
            ("::127.0.0.1", true),
            ("::ffff:127.0.0.1", true),
            ("::ffff:10.0.0.1", true),
            ("::ffff:169.254.169.254", true),
            ("::ffff:8.8.8.8", false),
            ("64:ff9b::7f00:1", true),
            ("64:ff9b::808:808", false),
            ("2002:7f00:1::", true),
            ("2002:808:808::", false),
            ("fc00::1", true),
            ("fd12:3456::1", true),
            ("fe80::1", true),
            ("febf::1", true),
            ("fec0::1", true),
            ("ff02::1", true),
            ("2001:db8::1", true),
            ("2606:4700:4700::1111", false),
            ("2a00:1450:4001:80b::200e", false),
        ];
        for (ip, blocked) in cases {
            let parsed: IpAddr = ip.parse().expect("ip");
            assert_eq!(is_blocked_ip(parsed), *blocked, "{ip}");
        }
    }

    #[test]
    fn resolver_screening_keeps_public_addresses_only() {
        let addr = |s: &str| SocketAddr::new(s.parse().expect("ip"), 0);
        let kept = screen("mixed", vec![addr("127.0.0.1"), addr("8.8.8.8")]).expect("kept");
        assert_eq!(kept, vec![addr("8.8.8.8")]);

        let err = screen("rebound", vec![addr("169.254.169.254"), addr("10.0.0.1")])
            .expect_err("all blocked");
        let blocked = find_blocked(err.as_ref()).expect("typed refusal");
        assert_eq!(blocked.host, "rebound");
        assert_eq!(blocked.addr.to_string(), "169.254.169.254");

        let err = screen("empty", Vec::new()).expect_err("no addresses");
        assert!(find_blocked(err.as_ref()).is_none());
    }

    #[tokio::test]
    async fn resolver_refuses_localhost() {
        let name: Name = "localhost".parse().expect("name");
        let err = match GuardedResolver::default().resolve(name).await {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => e,
        };
        assert_eq!(
            find_blocked(err.as_ref()).map(|b| b.host.as_str()),
            Some("localhost")
        );
    }

    #[test]
    fn debug_output_hides_the_credential() {
        let p = policy(&["api.example.com"], bearer());
        let text = format!("{p:?}");
        assert!(!text.contains(SECRET), "{text}");
        assert!(text.contains("redacted"));
    }

    #[test]
    fn only_timeouts_and_transport_errors_are_retryable() {
        let cases = [
            (SecureHttpError::HostNotAllowed("h".into()), false),
            (
                SecureHttpError::BlockedAddress {
                    host: "h".into(),
                    addr: "a".into(),
                },
                false,
            ),
            (SecureHttpError::BadRequest("b".into()), false),
            (SecureHttpError::TooLarge(1), false),
            (SecureHttpError::TooManyRedirects, false),
            (SecureHttpError::Timeout, true),
            (SecureHttpError::Transport("t".into()), true),
        ];
        for (err, retryable) in cases {
            assert_eq!(err.retryable(), retryable, "{err:?}");
        }
    }

    #[test]
    fn errors_are_scrubbed() {
        let err = scrub_error(
            SecureHttpError::Transport(format!("oops {SECRET}")),
            Some(SECRET),
        );
        assert_eq!(err, SecureHttpError::Transport("oops [REDACTED]".into()));
    }

    #[test]
    fn requests_deserialize_with_defaults() {
        let req: Request =
            serde_json::from_str(r#"{"method":"GET","url":"https://api.example.com/"}"#)
                .expect("parse");
        assert!(req.headers.is_empty() && req.query.is_empty() && req.body.is_none());
    }
}
