//! The token vault: usable access tokens for tools, refreshed ahead of expiry exactly once.
//!
//! [`access_token`] reads the connection (consistent read). A token valid for more than
//! [`REFRESH_AHEAD_SECS`] is decrypted and returned. Otherwise one caller across all Lambdas
//! wins the refresh lease (a conditional write on the connection's `version`), refreshes, and
//! persists the new tokens (rotated refresh token included) with a conditional write *before*
//! anyone uses the new access token. The others use the current token while it is still valid,
//! or wait for the new version. Within one warm process, callers take turns per connection first
//! ([`super::turns`]), so a burst makes one lease attempt. `invalid_grant` marks the connection `needs_reauth` and emits an
//! `integration.disconnected` event; transient errors retry with backoff.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::client::{AppConfigError, OAuthApp, TokenError, TokenSet};
use crate::connections::{Connection, ConnectionError, Status};
use crate::crypto::CryptoError;
use crate::secret::SecretString;
use crate::Vault;

/// Refresh when the access token has less than this left (or half its lifetime, for tokens
/// that live less than ten minutes: a 60-second token is not refreshed the moment it arrives).
pub const REFRESH_AHEAD_SECS: u64 = 300;
/// How long a caller waits for another caller's refresh before giving up (retryable).
const WAIT_FOR_REFRESH: Duration = Duration::from_secs(15);
/// The deadline of callers that do not give one (CLI, scheduled refresher, tests).
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(25);
/// Longest single token call (the HTTP client's own timeout is the same).
const TOKEN_CALL: Duration = Duration::from_secs(10);
/// A token call is not started with less than this left.
const MIN_TOKEN_CALL: Duration = Duration::from_secs(1);
/// Kept after the token calls for sealing and storing what they returned (KMS + DynamoDB, each
/// bounded by the SDK's 2.5 s operation timeout).
const PERSIST_RESERVE: Duration = Duration::from_secs(5);
/// No refresh lease is taken with less than this left before the caller's deadline.
const MIN_REFRESH: Duration = Duration::from_secs(6);
/// Encryption context key of connection tokens.
pub const CONTEXT: &str = "connection_id";

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("connection {0} does not exist")]
    NotFound(String),
    #[error("connection needs to be reauthorized: {0}")]
    NeedsReauth(String),
    #[error("connection was disconnected")]
    Revoked,
    #[error("the provider refused the refresh: {0}")]
    Rejected(String),
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    #[error("instance misconfigured: {0}")]
    Misconfigured(String),
    #[error("connection {0} belongs to another instance or provider")]
    NotThisInstances(String),
}

impl VaultError {
    /// Whether the caller may retry later.
    pub fn retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

impl From<ConnectionError> for VaultError {
    fn from(e: ConnectionError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<CryptoError> for VaultError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::Corrupt => Self::Misconfigured(e.to_string()),
            CryptoError::Kms { .. } => Self::Unavailable(e.to_string()),
        }
    }
}

impl From<AppConfigError> for VaultError {
    fn from(e: AppConfigError) -> Self {
        Self::Misconfigured(e.to_string())
    }
}

/// A usable access token. `Debug` hides it.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub connection_id: String,
    pub token: SecretString,
    pub expires_at: Option<u64>,
    /// The scopes the connection was granted (tools check theirs before calling).
    pub scopes: Vec<String>,
}

/// Seals an access/refresh token pair for a connection.
pub(crate) async fn seal_tokens(
    app: &Vault,
    provider: &str,
    connection_id: &str,
    tokens: &TokenSet,
) -> Result<crate::crypto::Envelope, CryptoError> {
    let mut map = BTreeMap::new();
    map.insert("access_token".to_owned(), tokens.access_token.clone());
    if let Some(refresh) = &tokens.refresh_token {
        map.insert("refresh_token".to_owned(), refresh.clone());
    }
    app.keyring
        .seal_for(provider, CONTEXT, connection_id, &map)
        .await
}

async fn open_tokens(
    app: &Vault,
    connection: &Connection,
) -> Result<BTreeMap<String, SecretString>, VaultError> {
    let sealed = connection
        .sealed
        .as_ref()
        .ok_or_else(|| VaultError::NeedsReauth("no tokens stored".into()))?;
    Ok(app
        .keyring
        .open_for(CONTEXT, &connection.id, sealed)
        .await?)
}

fn usable(connection: &Connection, now: u64, margin: u64) -> bool {
    connection
        .token_expires_at
        .is_none_or(|at| at > now + margin)
}

/// How long before expiry a token should be refreshed.
fn refresh_margin(connection: &Connection) -> u64 {
    match (connection.token_expires_at, connection.token_issued_at) {
        (Some(expires), Some(issued)) => REFRESH_AHEAD_SECS.min(expires.saturating_sub(issued) / 2),
        _ => REFRESH_AHEAD_SECS,
    }
}

fn check_status(connection: &Connection) -> Result<(), VaultError> {
    match connection.status {
        Status::Active => Ok(()),
        Status::NeedsReauth => Err(VaultError::NeedsReauth(
            connection.last_error.clone().unwrap_or_default(),
        )),
        Status::Revoked => Err(VaultError::Revoked),
    }
}

async fn token_of(app: &Vault, connection: &Connection) -> Result<AccessToken, VaultError> {
    if let Some(token) = app.opened_tokens.get(&connection.id, connection.version) {
        return Ok(token);
    }
    let tokens = open_tokens(app, connection).await?;
    let token = tokens
        .get("access_token")
        .cloned()
        .ok_or_else(|| VaultError::NeedsReauth("no access token stored".into()))?;
    let token = AccessToken {
        connection_id: connection.id.clone(),
        token,
        expires_at: connection.token_expires_at,
        scopes: connection.scopes.clone(),
    };
    app.opened_tokens.put(connection.version, &token);
    Ok(token)
}

/// A usable access token for `connection_id`, refreshing it when it is about to expire
/// (within [`DEFAULT_BUDGET`]).
pub async fn access_token(app: &Vault, connection_id: &str) -> Result<AccessToken, VaultError> {
    let deadline = Instant::now() + DEFAULT_BUDGET;
    obtain(app, connection_id, false, None, deadline).await
}

/// A usable access token of `connection_id` for `instance` of `provider`, by `deadline`: a
/// connection of another instance or provider is refused before any token is read or
/// refreshed, so an instance's config cannot borrow another tenant's connection.
pub async fn access_token_for(
    app: &Vault,
    connection_id: &str,
    instance_id: &str,
    provider: &str,
    deadline: Instant,
) -> Result<AccessToken, VaultError> {
    obtain(
        app,
        connection_id,
        false,
        Some((instance_id, provider)),
        deadline,
    )
    .await
}

/// Refreshes now, whatever the expiry (CLI `connection refresh`, the scheduled refresher).
pub async fn force_refresh(app: &Vault, connection_id: &str) -> Result<AccessToken, VaultError> {
    let deadline = Instant::now() + DEFAULT_BUDGET;
    obtain(app, connection_id, true, None, deadline).await
}

async fn obtain(
    app: &Vault,
    connection_id: &str,
    force: bool,
    owner_expected: Option<(&str, &str)>,
    deadline: Instant,
) -> Result<AccessToken, VaultError> {
    let owner = format!("lease_{}", uuid::Uuid::new_v4().simple());
    let waiting_until = deadline.min(Instant::now() + WAIT_FOR_REFRESH);
    let mut forced_version = None;
    let mut pause = Duration::from_millis(50);
    let mut turn = None;
    loop {
        let connection = app
            .connections
            .get(connection_id)
            .await?
            .ok_or_else(|| VaultError::NotFound(connection_id.to_owned()))?;
        if let Some((instance_id, provider)) = owner_expected {
            if connection.instance_id != instance_id || connection.provider != provider {
                return Err(VaultError::NotThisInstances(connection_id.to_owned()));
            }
        }
        check_status(&connection)?;
        let now = app.clock.now();
        let wants_refresh = match force {
            // A forced refresh is done once some caller moved past the version we saw first.
            true => forced_version.is_none_or(|v| connection.version <= v),
            false => !usable(&connection, now, refresh_margin(&connection)),
        };
        if !wants_refresh {
            return token_of(app, &connection).await;
        }
        forced_version.get_or_insert(connection.version);
        if turn.is_none() {
            // Wait for this process's other callers first, then read again: their refresh
            // is usually done by then.
            let left = waiting_until.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, app.refresh_turns.take(connection_id)).await {
                Ok(taken) => turn = Some(taken),
                Err(_) => return Err(waited_too_long()),
            }
            continue;
        }
        if !connection.has_refresh_token {
            if usable(&connection, now, 0) {
                return token_of(app, &connection).await;
            }
            return Err(VaultError::NeedsReauth(
                "access token expired and there is no refresh token".into(),
            ));
        }
        // A live lease seen on the read is someone else's refresh: wait for it without a write
        // (fifty callers at expiry make one conditional write each at most, not one per poll).
        let leased_by_other = connection.lease_until.is_some_and(|until| until >= now);
        let time_to_refresh = deadline.saturating_duration_since(Instant::now()) >= MIN_REFRESH;
        if !leased_by_other && time_to_refresh {
            let lease_secs = app.limits.refresh_lease_secs;
            if app
                .connections
                .try_lease(&connection.id, &owner, connection.version, now, lease_secs)
                .await?
            {
                let lease = Duration::from_secs(lease_secs);
                match refresh_holding_lease(app, &connection, &owner, lease, deadline).await {
                    Ok(token) => return Ok(token),
                    Err(RefreshFailure::Superseded) => continue,
                    Err(RefreshFailure::Grant(reason)) => {
                        return Err(VaultError::NeedsReauth(reason))
                    }
                    Err(RefreshFailure::Other(e)) => return Err(e),
                }
            }
        }
        // Someone else is refreshing: the current token is fine while it lasts.
        if !force && usable(&connection, now, 0) {
            return token_of(app, &connection).await;
        }
        if !leased_by_other && !time_to_refresh {
            return Err(VaultError::Unavailable(
                "too little time left to refresh the token; retry".into(),
            ));
        }
        let left = waiting_until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(waited_too_long());
        }
        let jitter = Duration::from_millis(rand::random::<u64>() % 50);
        tokio::time::sleep((pause + jitter).min(left)).await;
        pause = (pause * 2).min(Duration::from_millis(400));
    }
}

fn waited_too_long() -> VaultError {
    VaultError::Unavailable("timed out waiting for another caller's refresh".into())
}

async fn oauth_app(app: &Vault, connection: &Connection) -> Result<OAuthApp, VaultError> {
    let instance = app
        .instances
        .get(&connection.instance_id)
        .await
        .map_err(|e| VaultError::Unavailable(e.to_string()))?
        .ok_or_else(|| {
            VaultError::Misconfigured(format!("instance {} is gone", connection.instance_id))
        })?;
    let def = app.registry.get(&instance.provider).ok_or_else(|| {
        VaultError::Misconfigured(format!("unknown provider {}", instance.provider))
    })?;
    let secrets = match &instance.sealed {
        Some(sealed) => app.keyring.open(&instance.id, sealed).await?,
        None => BTreeMap::new(),
    };
    Ok(OAuthApp::resolve(
        def,
        &instance,
        Some(&secrets),
        &app.public_url,
    )?)
}

/// Refreshes while holding the lease taken just now for `lease`. The token calls end within
/// two thirds of the lease and [`PERSIST_RESERVE`] before the caller's deadline, so the lease
/// never runs out under a refresh that could still rotate the refresh token.
async fn refresh_holding_lease(
    app: &Vault,
    connection: &Connection,
    owner: &str,
    lease: Duration,
    deadline: Instant,
) -> Result<AccessToken, RefreshFailure> {
    let persist_from = deadline.checked_sub(PERSIST_RESERVE).unwrap_or(deadline);
    let calls_until = (Instant::now() + lease * 2 / 3).min(persist_from);
    match refresh_inner(app, connection, calls_until).await {
        Ok(token) => Ok(token),
        Err(RefreshFailure::Grant(reason)) => {
            let now = app.clock.now();
            let marked = app
                .connections
                .set_needs_reauth(&connection.id, connection.version, owner, &reason, now)
                .await
                .map_err(VaultError::from)?;
            if !marked {
                // A fresher refresh or a reconnect won: the grant we used is simply old.
                tracing::info!(connection_id = %connection.id, "refresh lost to a newer version; using it");
                return Err(RefreshFailure::Superseded);
            }
            announce_needs_reauth(app, connection, &reason).await;
            Err(RefreshFailure::Grant(reason))
        }
        Err(RefreshFailure::Other(e)) => {
            if let Err(release) = app
                .connections
                .release_lease(&connection.id, owner, &e.to_string())
                .await
            {
                tracing::warn!(connection_id = %connection.id, error = %release, "could not release refresh lease");
            }
            Err(RefreshFailure::Other(e))
        }
        Err(RefreshFailure::Superseded) => Err(RefreshFailure::Superseded),
    }
}

enum RefreshFailure {
    /// The provider refused the grant (`invalid_grant`).
    Grant(String),
    /// The connection moved on (refreshed or reconnected elsewhere): read it again.
    Superseded,
    Other(VaultError),
}

impl<E: Into<VaultError>> From<E> for RefreshFailure {
    fn from(e: E) -> Self {
        Self::Other(e.into())
    }
}

async fn refresh_inner(
    app: &Vault,
    connection: &Connection,
    calls_until: Instant,
) -> Result<AccessToken, RefreshFailure> {
    let oauth = oauth_app(app, connection).await?;
    let tokens = open_tokens(app, connection).await?;
    let refresh_token = tokens
        .get("refresh_token")
        .ok_or_else(|| RefreshFailure::Grant("no refresh token stored".into()))?;
    let mut attempt = 0;
    let fresh = loop {
        attempt += 1;
        let left = calls_until.saturating_duration_since(Instant::now());
        if left < MIN_TOKEN_CALL {
            return Err(RefreshFailure::Other(VaultError::Unavailable(
                "no time left for a token call within the refresh lease; retry".into(),
            )));
        }
        let call = oauth.refresh(app.http(), refresh_token);
        let outcome = match tokio::time::timeout(left.min(TOKEN_CALL), call).await {
            Ok(outcome) => outcome,
            Err(_) => Err(TokenError::Transient(format!(
                "token endpoint did not answer within {} ms",
                left.min(TOKEN_CALL).as_millis()
            ))),
        };
        match outcome {
            Ok(set) => break set,
            Err(TokenError::InvalidGrant(reason)) => return Err(RefreshFailure::Grant(reason)),
            Err(TokenError::Rejected { error, .. }) => {
                return Err(RefreshFailure::Other(VaultError::Rejected(error)))
            }
            Err(TokenError::Transient(detail)) if attempt < 3 => {
                tracing::warn!(connection_id = %connection.id, attempt, error = %detail, "token refresh failed; retrying");
                let jitter = rand::random::<u64>() % 100;
                let pause = Duration::from_millis(200 * attempt + jitter);
                let left = calls_until.saturating_duration_since(Instant::now());
                tokio::time::sleep(pause.min(left)).await;
            }
            Err(TokenError::Transient(detail)) => {
                return Err(RefreshFailure::Other(VaultError::Unavailable(detail)))
            }
        }
    };
    // Persist before use: a rotated refresh token must survive whatever happens next. This
    // step is not cut short by the deadline (PERSIST_RESERVE is kept for it).
    let sealed = seal_tokens(app, &connection.provider, &connection.id, &fresh).await?;
    let now = app.clock.now();
    let expires_at = fresh.expires_in.map(|s| now + s);
    let stored = app
        .connections
        .store_refreshed(
            &connection.id,
            connection.version,
            &sealed,
            expires_at,
            fresh.refresh_token.is_some(),
            now,
        )
        .await?;
    if !stored {
        // The connection changed under us (reconnected or disconnected): use what is there.
        return Err(RefreshFailure::Superseded);
    }
    tracing::info!(connection_id = %connection.id, "access token refreshed");
    app.hooks.after_refresh_persisted();
    let token = AccessToken {
        connection_id: connection.id.clone(),
        token: fresh.access_token,
        expires_at,
        scopes: connection.scopes.clone(),
    };
    // store_refreshed wrote version + 1.
    app.opened_tokens.put(connection.version + 1, &token);
    Ok(token)
}

async fn announce_needs_reauth(app: &Vault, connection: &Connection, reason: &str) {
    tracing::warn!(connection_id = %connection.id, reason, "grant is gone; connection needs reauthorization");
    crate::announce(app, connection, "needs_reauth", reason).await;
    crate::audit(app, connection, "needs_reauth", reason).await;
}

/// What the scheduled refresher did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RefreshReport {
    pub checked: usize,
    pub refreshed: usize,
    pub needs_reauth: usize,
    pub failed: usize,
}

/// Refreshes every active connection whose token expires within `window_secs` (the scheduled
/// How far ahead the scheduled refresher renews tokens (it runs every 5 minutes).
pub const REFRESH_WINDOW_SECS: u64 = 15 * 60;

/// function; agents then rarely wait for a refresh).
pub async fn refresh_expiring(app: &Vault, window_secs: u64) -> Result<RefreshReport, VaultError> {
    let now = app.clock.now();
    let mut report = RefreshReport::default();
    for connection in app.connections.list().await? {
        let due = connection.status == Status::Active
            && connection.has_refresh_token
            && connection
                .token_expires_at
                .is_some_and(|at| at <= now + window_secs);
        if !due {
            continue;
        }
        report.checked += 1;
        match force_refresh(app, &connection.id).await {
            Ok(_) => report.refreshed += 1,
            Err(VaultError::NeedsReauth(_)) => report.needs_reauth += 1,
            Err(e) => {
                tracing::warn!(connection_id = %connection.id, error = %e, "scheduled refresh failed");
                report.failed += 1;
            }
        }
    }
    Ok(report)
}

/// Runs the provider's disconnect hook (see [`crate::hooks`]) while the token still works;
/// best effort, like the hook itself.
async fn disconnect_hook(app: &Vault, connection: &Connection) {
    if crate::hooks::hook_for(&connection.provider).is_none() || connection.sealed.is_none() {
        return;
    }
    let instance = match app.instances.get(&connection.instance_id).await {
        Ok(Some(instance)) => instance,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(connection_id = %connection.id, error = %e, "disconnect hook: no instance");
            return;
        }
    };
    let token = match open_tokens(app, connection).await {
        Ok(mut tokens) => tokens.remove("access_token"),
        Err(e) => {
            tracing::error!(connection_id = %connection.id, error = %e, "disconnect hook: no token");
            None
        }
    };
    if let Some(token) = token {
        let cx = crate::hooks::HookContext {
            vault: app,
            instance: &instance,
            connection,
            token: &token,
        };
        crate::hooks::run(crate::hooks::Event::Disconnected, cx).await;
    }
}

/// What a disconnect did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Disconnected {
    pub connection_id: String,
    /// Whether the provider confirmed the revocation (false: it has no revocation endpoint).
    pub revoked_at_provider: bool,
}

/// Revokes the grant at the provider (RFC 7009), deletes the token ciphertext, marks the
/// connection revoked, audits and announces it. A transient provider failure aborts (nothing
/// changes, retry) unless `force`, which disconnects locally anyway.
pub async fn disconnect(
    app: &Vault,
    connection_id: &str,
    force: bool,
) -> Result<Disconnected, VaultError> {
    let connection = app
        .connections
        .get(connection_id)
        .await?
        .ok_or_else(|| VaultError::NotFound(connection_id.to_owned()))?;
    let mut revoked_at_provider = false;
    disconnect_hook(app, &connection).await;
    if connection.sealed.is_some() && connection.auth_type == "oauth2" {
        let attempt = async {
            let oauth = oauth_app(app, &connection).await?;
            let tokens = open_tokens(app, &connection).await?;
            // Revoking the refresh token revokes the grant; else revoke the access token.
            let (token, hint) = match tokens.get("refresh_token") {
                Some(t) => (t, "refresh_token"),
                None => (
                    tokens
                        .get("access_token")
                        .ok_or_else(|| VaultError::Misconfigured("no token stored".into()))?,
                    "access_token",
                ),
            };
            oauth
                .revoke(app.http(), token, hint)
                .await
                .map_err(|e| match e {
                    TokenError::Transient(d) => VaultError::Unavailable(d),
                    other => VaultError::Rejected(other.to_string()),
                })
        };
        match attempt.await {
            Ok(confirmed) => revoked_at_provider = confirmed,
            Err(e) if force => {
                tracing::warn!(connection_id, error = %e, "revocation failed; disconnecting locally (forced)");
            }
            Err(e) => return Err(e),
        }
    }
    let reason = if revoked_at_provider {
        "disconnected; revoked at the provider"
    } else {
        "disconnected"
    };
    app.connections
        .set_status(&connection.id, Status::Revoked, reason, app.clock.now())
        .await?;
    crate::audit(app, &connection, "disconnect", reason).await;
    crate::announce(app, &connection, "revoked", reason).await;
    Ok(Disconnected {
        connection_id: connection.id,
        revoked_at_provider,
    })
}
