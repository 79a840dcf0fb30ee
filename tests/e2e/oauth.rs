//! OAuth connections against a real authorization server on loopback: oidc-provider (a
//! certified OpenID Connect implementation, `tests/oauth-server`) with PKCE required, 60-second
//! access tokens, refresh-token rotation and RFC 7009 revocation.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use switchyard::connections::Status;
use switchyard::oauth::links::StartLink;
use switchyard::oauth::vault::{self, VaultError};
use switchyard::secret::SecretString;
use tokio::io::AsyncBufReadExt;

use crate::support::{self, serving_stack, LogCapture, Stack, NOW};

const CLIENT_ID: &str = "switchyard-test";
pub(crate) const CLIENT_SECRET: &str = "switchyard-test-secret-9f8e7d6c";
const INSTANCE: &str = "acme-idp";

/// The oidc-provider process; killed on drop.
struct AuthServer {
    child: tokio::process::Child,
    issuer: String,
    http: reqwest::Client,
}

impl AuthServer {
    async fn start(redirect_uri: &str) -> Self {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oauth-server");
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "tests/oauth-server/node_modules is missing: run `make tools` (npm ci) first"
        );
        let mut child = tokio::process::Command::new("node")
            .arg(dir.join("server.mjs"))
            .env("REDIRECT_URIS", redirect_uri)
            .env("CLIENT_ID", CLIENT_ID)
            .env("CLIENT_SECRET", CLIENT_SECRET)
            .env("ACCESS_TOKEN_TTL", "60")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start node tests/oauth-server/server.mjs");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line())
            .await
            .expect("oauth server READY within 20 s")
            .expect("read")
            .expect("a READY line");
        let issuer = ready
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("unexpected first line {ready:?}"))
            .to_owned();
        Self {
            child,
            issuer,
            http: reqwest::Client::new(),
        }
    }

    async fn stats(&self) -> Value {
        self.http
            .get(format!("{}/__stats", self.issuer))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("json")
    }

    async fn reset_stats(&self) {
        self.http
            .post(format!("{}/__reset_stats", self.issuer))
            .send()
            .await
            .expect("reset");
    }

    fn refreshes(stats: &Value) -> u64 {
        stats["token_requests"]["refresh_token"]
            .as_u64()
            .unwrap_or(0)
    }

    /// RFC 7662 introspection: is `token` active at the server?
    async fn active(&self, token: &str) -> bool {
        let body: Value = self
            .http
            .post(format!("{}/token/introspection", self.issuer))
            .form(&[
                ("token", token),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ])
            .send()
            .await
            .expect("introspect")
            .json()
            .await
            .expect("json");
        body["active"].as_bool().unwrap_or(false)
    }

    /// Uses a refresh token directly; returns the HTTP status.
    async fn refresh_status(&self, refresh_token: &str) -> u16 {
        self.http
            .post(format!("{}/token", self.issuer))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ])
            .send()
            .await
            .expect("refresh")
            .status()
            .as_u16()
    }

    async fn revoke(&self, token: &str) {
        let status = self
            .http
            .post(format!("{}/token/revocation", self.issuer))
            .form(&[
                ("token", token),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ])
            .send()
            .await
            .expect("revoke")
            .status();
        assert_eq!(status, 200);
    }
}

/// A browser mid-consent: its cookie jar and where the provider sent it back to.
pub(crate) struct Consent {
    browser: reqwest::Client,
    callback: String,
}

async fn visit(browser: &reqwest::Client, url: &str) -> (u16, String) {
    let r = browser.get(url).send().await.expect("visit");
    (r.status().as_u16(), r.text().await.expect("body"))
}

/// The token endpoint as the vault sees it: passes requests through to the server, except
/// that the next one can be held (a slow or lost request) until the test releases it.
struct TokenGate {
    url: String,
    state: Arc<GateState>,
}

#[derive(Default)]
struct GateState {
    upstream: String,
    hold_next: std::sync::atomic::AtomicBool,
    held: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

impl TokenGate {
    async fn start(upstream: String) -> Self {
        let state = Arc::new(GateState {
            upstream,
            ..GateState::default()
        });
        let router = axum::Router::new()
            .route("/token", axum::routing::post(gate_token))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/token", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, state }
    }

    /// Holds the next token request until [`TokenGate::release`] (forever if never released).
    fn hold_next(&self) {
        self.state
            .hold_next
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Waits until a request is being held.
    async fn until_held(&self) {
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            self.state.held.notified(),
        )
        .await
        .expect("a token request reached the gate");
    }

    fn release(&self) {
        self.state.release.notify_one();
    }
}

async fn gate_token(
    axum::extract::State(gate): axum::extract::State<Arc<GateState>>,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
) -> (http::StatusCode, http::HeaderMap, axum::body::Bytes) {
    if gate
        .hold_next
        .swap(false, std::sync::atomic::Ordering::SeqCst)
    {
        gate.held.notify_one();
        gate.release.notified().await;
    }
    let mut forward = reqwest::Client::new()
        .post(format!("{}/token", gate.upstream))
        .body(body);
    for name in ["content-type", "authorization", "accept"] {
        if let Some(value) = headers.get(name) {
            forward = forward.header(name, value.as_bytes());
        }
    }
    let answer = forward.send().await.expect("forward to the server");
    let status = http::StatusCode::from_u16(answer.status().as_u16()).expect("status");
    let mut out = http::HeaderMap::new();
    if let Some(kind) = answer.headers().get("content-type") {
        out.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_bytes(kind.as_bytes()).expect("header"),
        );
    }
    (status, out, answer.bytes().await.expect("body"))
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

pub(crate) struct Fixture {
    pub(crate) stack: Stack,
    pub(crate) base: String,
    server: AuthServer,
    gate: TokenGate,
    pub(crate) logs: LogCapture,
}

impl Fixture {
    pub(crate) async fn new() -> Self {
        let logs = LogCapture::install();
        let (stack, base) = serving_stack().await;
        let server = AuthServer::start(&format!("{base}/oauth/generic-oauth2/callback")).await;
        let gate = TokenGate::start(server.issuer.clone()).await;
        switchyard_ops::admin::create_instance(
            &stack.app,
            "generic-oauth2",
            INSTANCE,
            "acme",
            &[
                ("client_id".into(), CLIENT_ID.into()),
                ("client_secret".into(), CLIENT_SECRET.into()),
                (
                    "authorization_url".into(),
                    format!("{}/auth", server.issuer),
                ),
                ("token_url".into(), gate.url.clone()),
                (
                    "revocation_url".into(),
                    format!("{}/token/revocation", server.issuer),
                ),
                ("scopes".into(), "openid email offline_access read".into()),
            ],
        )
        .await
        .expect("create the OAuth instance");
        Self {
            stack,
            base,
            server,
            gate,
            logs,
        }
    }

    /// A signed start link, as `switchyard connection link` prints it, on the served host.
    async fn start_url(&self) -> String {
        self.link_for(None, 600).await
    }

    pub(crate) async fn link_for(&self, principal: Option<&str>, ttl: u64) -> String {
        let link = StartLink {
            provider: "generic-oauth2".into(),
            instance_id: INSTANCE.into(),
            principal: principal.map(str::to_owned),
            expires_at: self.stack.app.clock.now() + ttl,
            nonce: uuid::Uuid::new_v4().simple().to_string(),
        };
        let key = self
            .stack
            .app
            .oauth()
            .link_key
            .get()
            .await
            .expect("link key");
        format!(
            "{}/oauth/generic-oauth2/start?{}",
            self.base,
            link.query(&key).expect("sign")
        )
    }

    /// A browser: keeps cookies, follows redirects, but stops at our callback; returns the
    /// browser and the callback URL (with `code` and `state`) without calling it.
    pub(crate) async fn consent(&self, start_url: &str) -> Consent {
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                if attempt.url().path().ends_with("/callback") {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            }))
            .build()
            .expect("browser");
        let response = browser.get(start_url).send().await.expect("consent");
        assert!(response.status().is_redirection(), "{}", response.status());
        let callback = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no redirect to the callback: {}", response.status()));
        Consent { browser, callback }
    }

    /// The browser that consented follows the redirect to our callback.
    pub(crate) async fn finish(&self, consent: &Consent) -> (u16, String) {
        visit(&consent.browser, &consent.callback).await
    }

    /// A request from a browser that never started a flow (no cookies).
    async fn call(&self, url: &str) -> (u16, String) {
        let r = reqwest::get(url).await.expect("callback");
        (r.status().as_u16(), r.text().await.expect("body"))
    }

    /// Runs the whole consent flow; returns the connection id.
    pub(crate) async fn connect(&self) -> String {
        let consent = self.consent(&self.start_url().await).await;
        let (status, page) = self.finish(&consent).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("Connected"), "{page}");
        let connections = self.stack.app.connections.list().await.expect("list");
        assert_eq!(connections.len(), 1);
        connections[0].id.clone()
    }

    /// The tokens as stored, decrypted (for checks against the server and for secret scans).
    pub(crate) async fn stored_tokens(&self, id: &str) -> BTreeMap<String, SecretString> {
        let c = self
            .stack
            .app
            .connections
            .get(id)
            .await
            .expect("get")
            .expect("exists");
        self.stack
            .app
            .keyring
            .open_for(
                vault::CONTEXT,
                id,
                c.sealed.as_ref().expect("sealed tokens"),
            )
            .await
            .expect("open")
    }

    /// How many items the OAuth states table holds (pending authorizations, spent links).
    async fn pending_items(&self) -> usize {
        self.stack
            .app
            .aws
            .dynamodb()
            .scan()
            .table_name(&self.stack.app.resources.states_table)
            .send()
            .await
            .expect("scan")
            .count as usize
    }

    /// Every item of every table of this stack, as text.
    async fn dump_tables(&self) -> String {
        let r = &self.stack.app.resources;
        let mut dump = String::new();
        for table in [
            &r.instances_table,
            &r.deliveries_table,
            &r.states_table,
            &r.connections_table,
            &r.audit_table,
        ] {
            let scan = self
                .stack
                .app
                .aws
                .dynamodb()
                .scan()
                .table_name(table)
                .send()
                .await
                .expect("scan");
            dump.push_str(&format!("{:?}", scan.items));
        }
        dump
    }
}

#[tokio::test]
async fn consent_callback_stores_the_connection_and_only_ciphertext() {
    let f = Fixture::new().await;
    let id = f.connect().await;
    let c = f
        .stack
        .app
        .connections
        .get(&id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(c.status, Status::Active);
    assert_eq!(c.account_id.as_deref(), Some("alice"));
    assert_eq!(c.account_email.as_deref(), Some("alice@example.com"));
    assert!(c.scopes.contains(&"read".to_owned()), "{:?}", c.scopes);
    assert!(c.has_refresh_token);
    assert_eq!(c.token_expires_at, Some(NOW + 60));

    let token = vault::access_token(f.stack.app.vault(), &id)
        .await
        .expect("token");
    assert!(
        f.server.active(token.token.expose()).await,
        "a usable token"
    );
    let tokens = f.stored_tokens(&id).await;
    let refresh = tokens["refresh_token"].expose().to_owned();
    // Agents hear of it: `integration.connected`, with no token in it.
    let events = f.stack.tapped_raw().await;
    let connected = events
        .iter()
        .find(|e| e.detail_type == "integration.connected")
        .unwrap_or_else(|| panic!("no integration.connected: {events:?}"));
    assert_eq!(connected.detail["connection_id"], id.as_str());
    assert!(!connected.detail.to_string().contains(&refresh));

    // No token or secret in plaintext in any table or log line written during the test.
    let tables = f.dump_tables().await;
    let logs = f.logs.text();
    for secret in [token.token.expose(), refresh.as_str(), CLIENT_SECRET] {
        assert!(!tables.contains(secret), "plaintext secret in DynamoDB");
        assert!(!logs.contains(secret), "plaintext secret in the logs");
    }
    let history = f
        .stack
        .app
        .audit
        .history(&format!("connection#{id}"))
        .await
        .expect("audit");
    assert!(history.iter().any(|e| e.action == "connected"));
}

#[tokio::test]
async fn state_reuse_expiry_and_forgery_are_refused_and_store_nothing() {
    let f = Fixture::new().await;
    // Forged: a state we never issued.
    let (status, page) = f
        .call(&format!(
            "{}/oauth/generic-oauth2/callback?code=abc&state=forged",
            f.base
        ))
        .await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("invalid or was already used"));

    // Expired: the user took longer than ten minutes.
    let late = f.consent(&f.start_url().await).await;
    f.stack.app.clock.set(NOW + 601);
    let (status, page) = f.finish(&late).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("expired"), "{page}");
    assert!(f
        .stack
        .app
        .connections
        .list()
        .await
        .expect("list")
        .is_empty());
    f.stack.app.clock.set(NOW);

    // Reused: the second use of a good callback URL.
    let good = f.consent(&f.start_url().await).await;
    assert_eq!(f.finish(&good).await.0, 200);
    let (status, page) = f.finish(&good).await;
    assert_eq!(status, 400, "{page}");
    assert_eq!(f.stack.app.connections.list().await.expect("list").len(), 1);

    // Missing parameters.
    assert_eq!(
        f.call(&format!("{}/oauth/generic-oauth2/callback", f.base))
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn start_links_must_be_signed_unexpired_and_unused() {
    let f = Fixture::new().await;
    let start = format!("{}/oauth/generic-oauth2/start", f.base);
    let refused = |(status, page): (u16, String), says: &str| {
        assert_eq!(status, 403, "{page}");
        assert!(page.contains(says), "{says}: {page}");
    };
    // Anonymous: an instance id alone, or nothing.
    refused(
        f.call(&format!("{start}?instance_id={INSTANCE}")).await,
        "not a valid sign-in link",
    );
    refused(f.call(&start).await, "not a valid sign-in link");
    // Tampered: a good link pointed at another instance, or given another principal.
    let good = f.link_for(Some("ada@example.com"), 600).await;
    refused(
        f.call(&good.replace(INSTANCE, "someone-else")).await,
        "not a valid sign-in link",
    );
    refused(
        f.call(&good.replace("ada%40example.com", "eve%40example.com"))
            .await,
        "not a valid sign-in link",
    );
    // Expired.
    let short = f.link_for(None, 60).await;
    f.stack.app.clock.set(NOW + 61);
    refused(f.call(&short).await, "expired");
    f.stack.app.clock.set(NOW);
    // Nothing was stored for any of them.
    assert_eq!(f.pending_items().await, 0, "refused starts write nothing");

    // A good link works once.
    let consent = f.consent(&good).await;
    assert_eq!(f.finish(&consent).await.0, 200);
    refused(f.call(&good).await, "already used");
}

#[tokio::test]
async fn the_callback_must_come_from_the_browser_that_started_it() {
    let f = Fixture::new().await;
    let victim = f.consent(&f.start_url().await).await;
    // Someone else's browser (no binding cookie) finishes the flow: refused, nothing stored,
    // and the state is spent so the real browser cannot be raced either.
    let (status, page) = f.call(&victim.callback).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("another browser"), "{page}");
    assert!(f
        .stack
        .app
        .connections
        .list()
        .await
        .expect("list")
        .is_empty());
    assert_eq!(f.finish(&victim).await.0, 400);
    let history = f
        .stack
        .app
        .audit
        .history(&format!("instance#{INSTANCE}"))
        .await
        .expect("audit");
    assert!(history.iter().any(|e| e.action == "connect_refused"));

    // A cookie with the right name and a wrong value is refused too.
    let other = f.consent(&f.start_url().await).await;
    let state = reqwest::Url::parse(&other.callback)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");
    let short: String = state.chars().take(16).collect();
    let forged = reqwest::Client::new()
        .get(&other.callback)
        .header("cookie", format!("switchyard-oauth-{short}=guessed"))
        .send()
        .await
        .expect("forged");
    assert_eq!(forged.status(), 400);
}

#[tokio::test]
async fn the_cli_issues_a_link_that_connects_for_the_named_principal() {
    use clap::Parser;
    let f = Fixture::new().await;
    let mut out = Vec::new();
    let cli = switchyard_ops::cli::Cli::try_parse_from([
        "switchyard",
        "connection",
        "link",
        "--instance",
        INSTANCE,
        "--for",
        "ada@example.com",
        "--ttl",
        "900",
    ])
    .expect("args");
    switchyard_ops::cli::run_with_app(&f.stack.app, cli, &mut out)
        .await
        .expect("link");
    let printed = String::from_utf8(out).expect("utf8");
    let query = printed
        .trim()
        .split_once('?')
        .map(|(_, q)| q.to_owned())
        .unwrap_or_else(|| panic!("a URL: {printed}"));
    assert!(
        printed.contains("/oauth/generic-oauth2/start?"),
        "{printed}"
    );
    let consent = f
        .consent(&format!("{}/oauth/generic-oauth2/start?{query}", f.base))
        .await;
    assert_eq!(f.finish(&consent).await.0, 200);
    let history = f
        .stack
        .app
        .audit
        .history(&format!("instance#{INSTANCE}"))
        .await
        .expect("audit");
    assert!(history.iter().any(|e| e.action == "link_issued"));
    let connections = f.stack.app.connections.list().await.expect("list");
    let connected = f
        .stack
        .app
        .audit
        .history(&format!("connection#{}", connections[0].id))
        .await
        .expect("audit");
    assert!(
        connected
            .iter()
            .any(|e| e.action == "connected" && e.detail.contains("ada@example.com")),
        "{connected:?}"
    );
}

#[tokio::test]
async fn pkce_mismatch_is_refused() {
    let f = Fixture::new().await;
    let a = f.consent(&f.start_url().await).await;
    let b = f.consent(&f.start_url().await).await;
    let param = |url: &str, name: &str| {
        reqwest::Url::parse(url)
            .expect("url")
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .expect("param")
    };
    // A's code with B's state: B's verifier does not match A's challenge.
    let swapped = format!(
        "{}/oauth/generic-oauth2/callback?code={}&state={}",
        f.base,
        param(&a.callback, "code"),
        param(&b.callback, "state")
    );
    let (status, page) = visit(&b.browser, &swapped).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("invalid_grant"), "{page}");
    assert!(f
        .stack
        .app
        .connections
        .list()
        .await
        .expect("list")
        .is_empty());
}

#[tokio::test]
async fn user_denial_is_shown_and_recorded() {
    let f = Fixture::new().await;
    // The test server denies consent for the login hint `deny` (a link's principal).
    let denied = f.consent(&f.link_for(Some("deny"), 600).await).await;
    let (status, page) = f.finish(&denied).await;
    assert_eq!(status, 400);
    assert!(page.contains("access_denied"), "{page}");
    let history = f
        .stack
        .app
        .audit
        .history(&format!("instance#{INSTANCE}"))
        .await
        .expect("audit");
    assert!(history
        .iter()
        .any(|e| e.action == "connect_denied" && e.detail.contains("access_denied")));
    assert!(f
        .stack
        .app
        .connections
        .list()
        .await
        .expect("list")
        .is_empty());
}

#[tokio::test]
async fn fifty_concurrent_requests_at_expiry_make_exactly_one_refresh() {
    let f = Fixture::new().await;
    let id = f.connect().await;
    let before = vault::access_token(f.stack.app.vault(), &id)
        .await
        .expect("token");
    f.server.reset_stats().await;

    // Five warm processes (their own clients, clocks and in-process turns), ten callers each:
    // the lease elects one refresher across processes, turns one lease attempt per process.
    let mut processes = vec![f.stack.app.clone()];
    for _ in 0..4 {
        processes.push(Arc::new(
            f.stack.variant(&support::endpoint(), |_| {}).await,
        ));
    }
    for app in &processes {
        app.clock.set(NOW + 120); // the 60-second access token has expired
    }
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let app = processes[i % processes.len()].clone();
            let id = id.clone();
            tokio::spawn(async move { vault::access_token(app.vault(), &id).await })
        })
        .collect();
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(
            task.await
                .expect("join")
                .expect("every caller gets a token"),
        );
    }
    let stats = f.server.stats().await;
    assert_eq!(AuthServer::refreshes(&stats), 1, "{stats}");
    let first = tokens[0].token.expose().to_owned();
    assert_ne!(first, before.token.expose());
    assert!(
        tokens.iter().all(|t| t.token.expose() == first),
        "everyone got the new token"
    );
    assert!(f.server.active(&first).await);
}

#[tokio::test]
async fn a_token_call_that_hangs_ends_within_the_lease_and_frees_it() {
    let f = Fixture::new().await;
    let id = f.connect().await;
    f.server.reset_stats().await;
    // A second process whose refresh lease is 3 s; its token request is lost (never answered).
    let limits = switchyard::config::Limits {
        refresh_lease_secs: 3,
        ..Default::default()
    };
    let mut slow = f.stack.variant(&support::endpoint(), |_| {}).await;
    slow.limits = limits;
    let slow = Arc::new(slow);
    slow.clock.set(NOW + 120);
    f.stack.app.clock.set(NOW + 120);
    f.gate.hold_next();

    let started = tokio::time::Instant::now();
    let err = vault::access_token(slow.vault(), &id)
        .await
        .expect_err("the token endpoint never answered");
    let took = started.elapsed();
    assert!(err.retryable(), "{err:?}");
    assert!(
        took < std::time::Duration::from_secs(3),
        "the token call ended within the 3 s lease: took {took:?}"
    );
    let connection = f
        .stack
        .app
        .connections
        .get(&id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(connection.status, Status::Active);
    assert_eq!(connection.lease_until, None, "the lease was given back");

    // So the next caller refreshes at once, with the refresh token nobody used.
    let token = vault::access_token(f.stack.app.vault(), &id)
        .await
        .expect("token");
    assert!(f.server.active(token.token.expose()).await);
    let stats = f.server.stats().await;
    assert_eq!(AuthServer::refreshes(&stats), 1, "{stats}");
}

#[tokio::test]
async fn a_refresh_that_loses_to_a_reconnect_leaves_the_connection_active() {
    let f = Fixture::new().await;
    let id = f.connect().await;
    let old_refresh = f.stored_tokens(&id).await["refresh_token"]
        .expose()
        .to_owned();
    f.stack.app.clock.set(NOW + 120);

    // A refresh starts with the old grant and its token call is slow...
    f.gate.hold_next();
    let app = f.stack.app.clone();
    let refreshing = tokio::spawn({
        let id = id.clone();
        async move { vault::access_token(app.vault(), &id).await }
    });
    f.gate.until_held().await;
    // ...meanwhile the user revokes the old grant and connects again.
    f.server.revoke(&old_refresh).await;
    assert_eq!(
        f.connect().await,
        id,
        "the same account, the same connection"
    );
    f.gate.release();

    // The slow refresh gets invalid_grant for the old grant: it must not disable the new one.
    let token = refreshing
        .await
        .expect("join")
        .expect("the caller gets the reconnected token");
    assert!(f.server.active(token.token.expose()).await);
    let connection = f
        .stack
        .app
        .connections
        .get(&id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        connection.status,
        Status::Active,
        "{:?}",
        connection.last_error
    );
    let events = f.stack.tapped_raw().await;
    assert!(
        !events
            .iter()
            .any(|e| e.detail_type == "integration.disconnected"),
        "no disconnect was announced: {events:?}"
    );
}

#[tokio::test]
async fn rotated_refresh_token_survives_a_crash_between_refresh_and_use() {
    let f = Fixture::new().await;
    let id = f.connect().await;
    let original_refresh = f.stored_tokens(&id).await["refresh_token"]
        .expose()
        .to_owned();
    f.server.reset_stats().await;
    f.stack.app.clock.set(NOW + 120);

    // The refresher dies right after persisting the rotated tokens, before using them.
    f.stack
        .app
        .vault()
        .hooks
        .set_after_refresh_persisted(|| panic!("simulated crash after persisting tokens"));
    let app = f.stack.app.clone();
    let crashed = tokio::spawn({
        let id = id.clone();
        async move { vault::access_token(app.vault(), &id).await }
    })
    .await;
    assert!(crashed.is_err(), "the refresher crashed");
    f.stack.app.vault().hooks.set_after_refresh_persisted(|| {});

    // The next caller finds the rotated tokens persisted: no second refresh needed.
    let after_crash = vault::access_token(f.stack.app.vault(), &id)
        .await
        .expect("token");
    assert!(f.server.active(after_crash.token.expose()).await);
    let rotated = f.stored_tokens(&id).await["refresh_token"]
        .expose()
        .to_owned();
    assert_ne!(
        rotated, original_refresh,
        "the refresh token was rotated and kept"
    );
    assert_eq!(AuthServer::refreshes(&f.server.stats().await), 1);

    // And the rotated refresh token works for the next refresh.
    f.stack.app.clock.set(NOW + 400);
    let next = vault::access_token(f.stack.app.vault(), &id)
        .await
        .expect("second refresh");
    assert!(f.server.active(next.token.expose()).await);
    let stats = f.server.stats().await;
    assert_eq!(AuthServer::refreshes(&stats), 2, "{stats}");
    assert_eq!(
        stats["refresh_failures"].as_u64().unwrap_or(0),
        0,
        "{stats}"
    );
}

#[tokio::test]
async fn revoked_grant_marks_needs_reauth_and_emits_an_event() {
    let f = Fixture::new().await;
    let id = f.connect().await;
    let refresh = f.stored_tokens(&id).await["refresh_token"]
        .expose()
        .to_owned();
    f.server.revoke(&refresh).await; // the user revoked the app at the provider
    f.stack.app.clock.set(NOW + 120);

    let err = vault::access_token(f.stack.app.vault(), &id)
        .await
        .expect_err("grant is gone");
    assert!(matches!(err, VaultError::NeedsReauth(_)), "{err:?}");
    assert!(!err.retryable());
    let c = f
        .stack
        .app
        .connections
        .get(&id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(c.status, Status::NeedsReauth);
    // Later callers are told at once, without calling the provider.
    let again = vault::access_token(f.stack.app.vault(), &id)
        .await
        .expect_err("still gone");
    assert!(matches!(again, VaultError::NeedsReauth(_)));

    let events = f.stack.tapped_raw().await;
    let event = events
        .iter()
        .find(|e| e.detail_type == "integration.disconnected")
        .unwrap_or_else(|| panic!("no integration event: {events:?}"));
    assert_eq!(event.source, "switchyard.integration");
    assert_eq!(event.detail["reason"], "needs_reauth");
    assert_eq!(event.detail["connection_id"], id.as_str());
    assert!(!event.detail.to_string().contains(&refresh));
}

#[tokio::test]
async fn disconnect_revokes_at_the_server_and_deletes_the_ciphertext() {
    let f = Fixture::new().await;
    let id = f.connect().await;
    let tokens = f.stored_tokens(&id).await;
    let refresh = tokens["refresh_token"].expose().to_owned();
    f.server.reset_stats().await;

    let done = vault::disconnect(f.stack.app.vault(), &id, false)
        .await
        .expect("disconnect");
    assert!(done.revoked_at_provider);
    assert_eq!(f.server.stats().await["revocations"].as_u64(), Some(1));
    assert_eq!(
        f.server.refresh_status(&refresh).await,
        400,
        "the grant is dead at the server"
    );

    let c = f
        .stack
        .app
        .connections
        .get(&id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(c.status, Status::Revoked);
    assert!(c.sealed.is_none(), "token ciphertext deleted");
    assert!(matches!(
        vault::access_token(f.stack.app.vault(), &id).await,
        Err(VaultError::Revoked)
    ));
    let history = f
        .stack
        .app
        .audit
        .history(&format!("connection#{id}"))
        .await
        .expect("audit");
    assert!(history.iter().any(|e| e.action == "disconnect"));
    let events = f.stack.tapped_raw().await;
    assert!(events.iter().any(|e| e.detail["reason"] == "revoked"));
}

#[tokio::test]
async fn scheduled_refresher_renews_tokens_before_they_expire() {
    let f = Fixture::new().await;
    let id = f.connect().await;
    f.server.reset_stats().await;
    // Not yet due: the token expires at NOW + 60, the window is 15 minutes.
    f.stack.app.clock.set(NOW);
    let report = vault::refresh_expiring(f.stack.app.vault(), 10)
        .await
        .expect("run");
    assert_eq!(report.checked, 0);
    let report = vault::refresh_expiring(
        f.stack.app.vault(),
        switchyard::oauth::vault::REFRESH_WINDOW_SECS,
    )
    .await
    .expect("run");
    assert_eq!((report.checked, report.refreshed), (1, 1), "{report:?}");
    let c = f
        .stack
        .app
        .connections
        .get(&id)
        .await
        .expect("get")
        .expect("exists");
    assert!(c.last_refreshed_at.is_some());
    assert_eq!(AuthServer::refreshes(&f.server.stats().await), 1);
    // Agents now get the fresh token without waiting for a refresh.
    let token = vault::access_token(f.stack.app.vault(), &id)
        .await
        .expect("token");
    assert!(f.server.active(token.token.expose()).await);
    assert_eq!(AuthServer::refreshes(&f.server.stats().await), 1);
}

#[tokio::test]
async fn connection_cli_never_prints_tokens() {
    use clap::Parser;
    let f = Fixture::new().await;
    let id = f.connect().await;
    let tokens = f.stored_tokens(&id).await;
    let mut out = Vec::new();
    for args in [
        vec!["switchyard", "connection", "list"],
        vec!["switchyard", "connection", "show", "--id", &id],
        vec!["switchyard", "connection", "refresh", "--id", &id],
        vec!["switchyard", "audit", "list"],
        vec!["switchyard", "connection", "disconnect", "--id", &id],
    ] {
        let cli = switchyard_ops::cli::Cli::try_parse_from(args).expect("args");
        switchyard_ops::cli::run_with_app(&f.stack.app, cli, &mut out)
            .await
            .expect("command");
    }
    let text = String::from_utf8(out).expect("utf8");
    assert!(
        text.contains(&id) && text.contains("refreshed") && text.contains("disconnected"),
        "{text}"
    );
    for secret in tokens.values() {
        assert!(!text.contains(secret.expose()));
    }
    assert!(!text.contains(CLIENT_SECRET));
}

/// A tool whose instance names another instance's connection is refused before any token is
/// read (issue 10, finding 3): the owner check is on the connection, not the config.
#[tokio::test]
async fn a_connection_serves_only_its_own_instance() {
    let f = Fixture::new().await;
    let id = f.connect().await;
    let app = &f.stack.app;
    // The owner gets a token.
    let owner = vault::access_token_for(app.vault(), &id, INSTANCE, "generic-oauth2", soon()).await;
    assert!(owner.is_ok(), "{owner:?}");
    // Another instance (or provider) naming the same connection does not.
    let other =
        vault::access_token_for(app.vault(), &id, "someone-else", "generic-oauth2", soon()).await;
    assert!(
        matches!(other, Err(VaultError::NotThisInstances(_))),
        "{other:?}"
    );
    let wrong_provider =
        vault::access_token_for(app.vault(), &id, INSTANCE, "notion", soon()).await;
    assert!(matches!(
        wrong_provider,
        Err(VaultError::NotThisInstances(_))
    ));
    // Through a tool: a Notion instance whose config names the generic-oauth2 connection.
    switchyard_ops::admin::create_instance(
        app,
        "notion",
        "borrower",
        "acme",
        &[("connection_id".into(), id.clone())],
    )
    .await
    .expect("instance");
    switchyard_ops::admin::grant(app, "borrower", "agent-b", &Default::default())
        .await
        .expect("grant");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let response = switchyard::tools::invoke(
        app.tools(),
        "notion.retrieve_page",
        switchyard::tools::ToolRequest {
            instance_id: "borrower".into(),
            agent_id: "agent-b".into(),
            input: serde_json::json!({"page_id": "59833787-2cf9-4fdf-8782-e53db20768a5"}),
            idempotency_key: None,
            trace_id: None,
            on_behalf_of: None,
        },
        deadline,
    )
    .await;
    let error = response.error().expect("refused");
    assert_eq!(error.code, "auth_failed", "{error:?}");
}

fn soon() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(20)
}
