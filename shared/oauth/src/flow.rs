//! `GET /oauth/{provider}/start?<signed link>` and `GET /oauth/{provider}/callback?code&state`.
//!
//! Start: only a signed, unexpired, unused start link ([`super::links`]) gets in; anything
//! else is 403 before any KMS call or write. Then an unguessable `state` bound to the instance,
//! a PKCE S256 verifier (sealed with KMS, stored with the state for ten minutes, single use),
//! a random browser binding set as a cookie (`__Host-` prefixed, `Secure`, `HttpOnly`,
//! `SameSite=Lax` when the public URL is https) whose hash is stored with the state, and a
//! redirect to the provider.
//! Callback: the state is taken (unknown, reused or expired → 400, nothing stored), the browser
//! must present the cookie bound to it (another browser → 400), the code is exchanged with the
//! verifier, the connection is stored with its tokens sealed, and a small page says what
//! happened. A provider `error=` (the user denied) is shown and audited.

use std::collections::{BTreeMap, HashMap};

use crate::client::{OAuthApp, TokenError};
use crate::connections::{connection_id, owner_connection_id, Connection, Status};
use crate::links::{LinkError, StartLink};
use crate::pkce;
use crate::reply::Reply;
use crate::secret::SecretString;
use crate::state::{PendingAuth, StateError, STATE_TTL_SECS};
use crate::OAuth;

const VERIFIER_CONTEXT: &str = "oauth_state";

/// Why a start or callback failed; each maps to a status and a page.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("unknown provider {0}")]
    UnknownProvider(String),
    #[error("unknown instance")]
    UnknownInstance,
    #[error("missing query parameter {0}")]
    MissingParam(&'static str),
    #[error("this link is invalid or was already used; start again")]
    BadState,
    #[error("this link expired; start again")]
    ExpiredState,
    #[error("the provider refused access: {0}")]
    Denied(String),
    #[error("the provider did not accept the authorization code: {0}")]
    Exchange(String),
    #[error("the instance's OAuth app is misconfigured: {0}")]
    Misconfigured(String),
    #[error("temporarily unavailable, try again: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Link(LinkError),
    #[error("this sign-in was started in another browser; open your link again here")]
    OtherBrowser,
}

impl From<LinkError> for FlowError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Unavailable(d) => Self::Unavailable(d),
            LinkError::WeakKey => Self::Misconfigured(e.to_string()),
            other => Self::Link(other),
        }
    }
}

impl FlowError {
    pub fn status(&self) -> u16 {
        match self {
            Self::UnknownProvider(_) | Self::UnknownInstance => 404,
            Self::MissingParam(_)
            | Self::BadState
            | Self::ExpiredState
            | Self::Denied(_)
            | Self::Exchange(_)
            | Self::OtherBrowser => 400,
            Self::Link(_) => 403,
            Self::Misconfigured(_) => 500,
            Self::Unavailable(_) => 503,
        }
    }

    fn page(&self) -> Reply {
        let message = match self {
            Self::Misconfigured(_) => {
                "The integration is misconfigured. Ask your administrator.".to_owned()
            }
            Self::Unavailable(_) => "Temporarily unavailable. Please try again.".to_owned(),
            other => other.to_string(),
        };
        page(self.status(), "Connection failed", &message)
    }
}

fn page(status: u16, title: &str, message: &str) -> Reply {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:4em auto\"><h1>{t}</h1><p>{m}</p></body></html>",
        t = escape(title),
        m = escape(message)
    );
    Reply::html(status, body)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Handles the start route; always produces an answer.
pub async fn start(app: &OAuth, provider: &str, query: &HashMap<String, String>) -> Reply {
    match start_inner(app, provider, query).await {
        Ok((location, cookie)) => Reply::redirect(location).with_cookie(cookie),
        Err(e) => {
            tracing::warn!(provider, status = e.status(), error = %e, "oauth start refused");
            e.page()
        }
    }
}

async fn start_inner(
    app: &OAuth,
    provider: &str,
    query: &HashMap<String, String>,
) -> Result<(String, String), FlowError> {
    let now = app.clock.now();
    let link = StartLink::verify(provider, query, &app.link_key.get().await?, now)?;
    let oauth = oauth_app(app, provider, &link.instance_id, false).await?;
    let spent = app
        .states
        .spend_link(&link.nonce, link.expires_at)
        .await
        .map_err(|e| FlowError::Unavailable(e.to_string()))?;
    if !spent {
        return Err(LinkError::Used.into());
    }
    let state = pkce::random_token();
    let browser = pkce::random_token();
    let verifier = oauth.pkce().then(pkce::random_token);
    let sealed_verifier = match &verifier {
        Some(v) => {
            let map = BTreeMap::from([("verifier".to_owned(), SecretString::from(v.as_str()))]);
            Some(
                app.keyring
                    .seal_for(provider, VERIFIER_CONTEXT, &state, &map)
                    .await
                    .map_err(|e| FlowError::Unavailable(e.to_string()))?,
            )
        }
        None => None,
    };
    app.states
        .put(&PendingAuth {
            state: state.clone(),
            instance_id: link.instance_id.clone(),
            provider: provider.to_owned(),
            sealed_verifier,
            browser_hash: browser_hash(&browser),
            principal: link.principal.clone(),
            expires_at: now + STATE_TTL_SECS,
        })
        .await
        .map_err(|e| FlowError::Unavailable(e.to_string()))?;
    let challenge = verifier.as_deref().map(pkce::challenge);
    let location = oauth.authorize_url(&state, challenge.as_deref(), link.principal.as_deref());
    let cookie = BrowserCookie::for_state(&state, &app.public_url).set(&browser);
    Ok((location, cookie))
}

fn browser_hash(browser: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(browser.as_bytes()))
}

/// The cookie binding one pending authorization to the browser that started it. One cookie per
/// state, so two flows in one browser do not overwrite each other.
struct BrowserCookie {
    name: String,
    secure: bool,
}

impl BrowserCookie {
    fn for_state(state: &str, public_url: &str) -> Self {
        // `__Host-` requires `Secure`, `Path=/` and no `Domain`: the cookie cannot be set or
        // shadowed by a sibling subdomain. Plain http is the local stack only.
        let secure = public_url.starts_with("https://");
        let prefix = if secure { "__Host-" } else { "" };
        let short: String = state.chars().take(16).collect();
        Self {
            name: format!("{prefix}switchyard-oauth-{short}"),
            secure,
        }
    }

    fn set(&self, value: &str) -> String {
        self.header(value, STATE_TTL_SECS)
    }

    fn clear(&self) -> String {
        self.header("", 0)
    }

    fn header(&self, value: &str, max_age: u64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
            self.name
        )
    }

    /// This cookie's value in a `Cookie` header.
    fn find<'a>(&self, cookies: &'a str) -> Option<&'a str> {
        cookies
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == self.name)
            .map(|(_, value)| value)
    }
}

/// The instance's OAuth app; `with_secrets` opens the sealed client secret (token calls only).
async fn oauth_app(
    app: &OAuth,
    provider: &str,
    instance_id: &str,
    with_secrets: bool,
) -> Result<OAuthApp, FlowError> {
    let def = app
        .registry
        .get(provider)
        .filter(|d| d.oauth.is_some())
        .ok_or_else(|| FlowError::UnknownProvider(provider.to_owned()))?;
    let instance = app
        .instances
        .get(instance_id)
        .await
        .map_err(|e| FlowError::Unavailable(e.to_string()))?
        .filter(|i| i.provider == provider)
        .ok_or(FlowError::UnknownInstance)?;
    let secrets = match (&instance.sealed, with_secrets) {
        (_, false) => None,
        (Some(sealed), true) => Some(app.keyring.open(&instance.id, sealed).await.map_err(
            |e| match e {
                crate::crypto::CryptoError::Corrupt => FlowError::Misconfigured(e.to_string()),
                other => FlowError::Unavailable(other.to_string()),
            },
        )?),
        (None, true) => Some(BTreeMap::new()),
    };
    OAuthApp::resolve(def, &instance, secrets.as_ref(), &app.public_url)
        .map_err(|e| FlowError::Misconfigured(e.to_string()))
}

/// Handles the callback route; always produces an answer.
pub async fn callback(
    app: &OAuth,
    provider: &str,
    query: &HashMap<String, String>,
    cookies: &str,
) -> Reply {
    let cookie = query
        .get("state")
        .map(|state| BrowserCookie::for_state(state, &app.public_url));
    let reply = match callback_inner(app, provider, query, cookie.as_ref(), cookies).await {
        Ok(connection) => {
            let who = connection
                .account_email
                .clone()
                .or(connection.account_name.clone())
                .or(connection.account_id.clone())
                .unwrap_or_else(|| "your account".into());
            page(
                200,
                "Connected",
                &format!(
                    "{} is connected ({who}). Connection {}. You can close this window.",
                    connection.provider, connection.id
                ),
            )
        }
        Err(e) => {
            tracing::warn!(provider, status = e.status(), error = %e, "oauth callback refused");
            e.page()
        }
    };
    // The binding is single use, like the state.
    match cookie {
        Some(cookie) => reply.with_cookie(cookie.clear()),
        None => reply,
    }
}

async fn callback_inner(
    app: &OAuth,
    provider: &str,
    query: &HashMap<String, String>,
    cookie: Option<&BrowserCookie>,
    cookies: &str,
) -> Result<Connection, FlowError> {
    let now = app.clock.now();
    if let Some(error) = query.get("error") {
        let description = query
            .get("error_description")
            .map(|d| format!("{error} ({d})"))
            .unwrap_or_else(|| error.clone());
        // Consume the state so it cannot be replayed, and record the refusal on the instance.
        if let Some(state) = query.get("state") {
            if let Ok(pending) = app.states.take(state, now).await {
                let target = format!("instance#{}", pending.instance_id);
                if let Err(e) = app
                    .audit
                    .record(&target, &app.actor, "connect_denied", &description, now)
                    .await
                {
                    tracing::error!(error = %e, "could not audit a denied consent");
                }
            }
        }
        return Err(FlowError::Denied(description));
    }
    let state = query.get("state").ok_or(FlowError::MissingParam("state"))?;
    let code = query.get("code").ok_or(FlowError::MissingParam("code"))?;
    let pending = app.states.take(state, now).await.map_err(|e| match e {
        StateError::Unknown => FlowError::BadState,
        StateError::Expired => FlowError::ExpiredState,
        StateError::Unavailable(d) => FlowError::Unavailable(d),
    })?;
    if pending.provider != provider {
        return Err(FlowError::BadState);
    }
    let presented = cookie.and_then(|c| c.find(cookies)).map(browser_hash);
    let same_browser = presented.is_some_and(|hash| {
        use subtle::ConstantTimeEq;
        bool::from(hash.as_bytes().ct_eq(pending.browser_hash.as_bytes()))
    });
    if !same_browser {
        let target = format!("instance#{}", pending.instance_id);
        let detail = "callback without the starting browser's cookie";
        if let Err(e) = app
            .audit
            .record(&target, &app.actor, "connect_refused", detail, now)
            .await
        {
            tracing::error!(error = %e, "could not audit a refused callback");
        }
        return Err(FlowError::OtherBrowser);
    }
    let oauth = oauth_app(app, provider, &pending.instance_id, true).await?;
    let verifier = match &pending.sealed_verifier {
        Some(sealed) => Some(
            app.keyring
                .open_for(VERIFIER_CONTEXT, &pending.state, sealed)
                .await
                .map_err(|e| FlowError::Unavailable(e.to_string()))?
                .remove("verifier")
                .ok_or(FlowError::BadState)?,
        ),
        None => None,
    };
    let tokens = oauth
        .exchange_code(
            app.http(),
            code,
            verifier.as_ref().map(SecretString::expose),
        )
        .await
        .map_err(|e| match e {
            TokenError::Transient(d) => FlowError::Unavailable(d),
            TokenError::InvalidGrant(d) => FlowError::Exchange(format!("invalid_grant: {d}")),
            TokenError::Rejected { error, .. } => FlowError::Exchange(error),
        })?;
    let instance = app
        .instances
        .get(&pending.instance_id)
        .await
        .map_err(|e| FlowError::Unavailable(e.to_string()))?
        .ok_or(FlowError::UnknownInstance)?;
    let account = tokens
        .account_id
        .clone()
        .unwrap_or_else(|| format!("anonymous-{}", uuid::Uuid::new_v4().simple()));
    // A link issued for a person makes that person's connection (one per instance and owner);
    // without one, the account's connection shared by the instance.
    let id = match &pending.principal {
        Some(owner) => owner_connection_id(&instance.id, owner),
        None => connection_id(&instance.id, &account),
    };
    let sealed = crate::vault::seal_tokens(app, provider, &id, &tokens)
        .await
        .map_err(|e| FlowError::Unavailable(e.to_string()))?;
    let mut connection = Connection {
        id,
        instance_id: instance.id.clone(),
        provider: provider.to_owned(),
        workspace: instance.workspace.clone(),
        auth_type: "oauth2".into(),
        account_id: tokens.account_id.clone(),
        account_name: tokens.account_name.clone(),
        account_email: tokens.account_email.clone(),
        owner: pending.principal.clone(),
        scopes: tokens.scopes.clone(),
        status: Status::Active,
        token_expires_at: tokens.expires_in.map(|s| now + s),
        token_issued_at: Some(now),
        has_refresh_token: tokens.refresh_token.is_some(),
        sealed: Some(sealed),
        version: 0,
        lease_until: None,
        created_at: now,
        updated_at: now,
        last_refreshed_at: None,
        last_error: None,
    };
    connection.version = app
        .connections
        .upsert(&connection, now)
        .await
        .map_err(|e| FlowError::Unavailable(e.to_string()))?;
    let detail = match &pending.principal {
        Some(principal) => format!(
            "scopes: {}; link issued for {principal}",
            connection.scopes.join(" ")
        ),
        None => format!("scopes: {}", connection.scopes.join(" ")),
    };
    crate::audit(app, &connection, "connected", &detail).await;
    // The provider's own end of a connection (Shopify's webhook subscriptions), if it has one.
    let cx = crate::hooks::HookContext {
        vault: app,
        instance: &instance,
        connection: &connection,
        token: &tokens.access_token,
    };
    crate::hooks::run(crate::hooks::Event::Connected, cx).await;
    crate::announce_connected(app, &connection).await;
    tracing::info!(connection_id = %connection.id, provider, "connection stored");
    Ok(connection)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_https_the_binding_is_a_host_only_secure_cookie() {
        let cookie =
            BrowserCookie::for_state("abcdefghijklmnopqrstuvwxyz", "https://api.example.com");
        assert_eq!(
            cookie.set("v4lue"),
            "__Host-switchyard-oauth-abcdefghijklmnop=v4lue; Path=/; Max-Age=600; HttpOnly; \
             SameSite=Lax; Secure"
        );
        assert!(cookie.clear().contains("Max-Age=0"));
    }

    #[test]
    fn the_local_http_stack_gets_the_same_cookie_without_the_secure_prefix() {
        let cookie =
            BrowserCookie::for_state("abcdefghijklmnopqrstuvwxyz", "http://127.0.0.1:3000");
        let header = cookie.set("v");
        assert!(
            header.starts_with("switchyard-oauth-abcdefghijklmnop=v;"),
            "{header}"
        );
        assert!(!header.contains("Secure"));
    }

    #[test]
    fn the_binding_is_found_among_other_cookies_by_its_exact_name() {
        let cookie = BrowserCookie::for_state("abcdefghijklmnopqrstuvwxyz", "https://x.example");
        let name = "__Host-switchyard-oauth-abcdefghijklmnop";
        let header = format!("a=1; {name}x=wrong; {name}=right; b=2");
        assert_eq!(cookie.find(&header), Some("right"));
        assert_eq!(cookie.find("a=1"), None);
    }
}
