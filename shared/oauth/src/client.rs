//! One instance's OAuth app: authorization URLs and the token, refresh and revocation calls.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;

use crate::instances::Instance;
use crate::providers::{ClientAuth, OAuthDef, ProviderDef, TokenRequestFormat};
use crate::secret::SecretString;

/// Why the OAuth app of an instance cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppConfigError {
    #[error("provider {0} does not do OAuth")]
    NotOAuth(String),
    #[error("instance needs {0}")]
    Missing(String),
    #[error("{0} must be an https URL (http only on loopback, for local development)")]
    NotHttps(String),
    #[error("unknown scope template {0:?}")]
    UnknownScopeTemplate(String),
}

/// https, or http on a loopback host (a local authorization server in development and tests).
fn check_url(url: &str) -> Result<(), AppConfigError> {
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| {
            url.strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
        });
    if url.starts_with("https://") || loopback {
        Ok(())
    } else {
        Err(AppConfigError::NotHttps(url.to_owned()))
    }
}

/// What a token endpoint said, classified for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The grant is gone (revoked, expired, reused code, PKCE mismatch): the user must reconnect.
    #[error("invalid_grant: {0}")]
    InvalidGrant(String),
    /// Any other refusal (bad client credentials, bad request): a configuration problem.
    #[error("token endpoint refused the request ({status}): {error}")]
    Rejected { status: u16, error: String },
    /// Network trouble, 429 or 5xx: worth retrying.
    #[error("token endpoint unavailable: {0}")]
    Transient(String),
}

/// Tokens and account facts from a token response. Debug never shows the tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub expires_in: Option<u64>,
    pub scopes: Vec<String>,
    pub account_id: Option<String>,
    pub account_name: Option<String>,
    pub account_email: Option<String>,
}

/// An instance's OAuth app, ready to use.
#[derive(Debug, Clone)]
pub struct OAuthApp {
    pub provider: String,
    pub authorization_url: String,
    pub token_url: String,
    pub revocation_url: Option<String>,
    pub client_id: String,
    /// Absent when resolved without secrets (the start step needs none).
    client_secret: Option<SecretString>,
    pub scopes: Vec<String>,
    pub user_scopes: Vec<String>,
    pub redirect_uri: String,
    def: OAuthDef,
    config: BTreeMap<String, String>,
}

fn split_scopes(text: &str) -> Vec<String> {
    text.split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The provider's default scopes plus those of each template in `names` (comma-separated),
/// in order, without repeats.
fn templated_scopes(oauth: &OAuthDef, names: &str) -> Result<Vec<String>, AppConfigError> {
    let mut scopes = oauth.scopes.clone();
    for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let template = oauth
            .scope_templates
            .get(name)
            .ok_or_else(|| AppConfigError::UnknownScopeTemplate(name.to_owned()))?;
        for scope in template {
            if !scopes.contains(scope) {
                scopes.push(scope.clone());
            }
        }
    }
    Ok(scopes)
}

impl OAuthApp {
    /// Resolves the provider's definition with the instance's config and, for token calls, its
    /// opened secrets (`None`: authorization URLs only, no KMS call needed). The redirect URI is
    /// the instance's `redirect_uri`, else `<public_url>/oauth/<provider>/callback`.
    pub fn resolve(
        def: &ProviderDef,
        instance: &Instance,
        secrets: Option<&BTreeMap<String, SecretString>>,
        public_url: &str,
    ) -> Result<Self, AppConfigError> {
        let oauth = def
            .oauth
            .as_ref()
            .ok_or_else(|| AppConfigError::NotOAuth(def.id.clone()))?;
        let config = &instance.config;
        let url = |key: &str, default: &Option<String>| -> Result<Option<String>, AppConfigError> {
            let Some(template) = config.get(key).or(default.as_ref()) else {
                return Ok(None);
            };
            let mut url = template.clone();
            for name in crate::providers::placeholders(template) {
                let value = config
                    .get(name)
                    .ok_or_else(|| AppConfigError::Missing(name.to_owned()))?;
                url = url.replace(&format!("{{{name}}}"), value);
            }
            Ok(Some(url))
        };
        let required = |key: &str, value: Option<String>| {
            value.ok_or_else(|| AppConfigError::Missing(key.to_owned()))
        };
        let app = Self {
            provider: def.id.clone(),
            authorization_url: required(
                "authorization_url",
                url("authorization_url", &oauth.authorization_url)?,
            )?,
            token_url: required("token_url", url("token_url", &oauth.token_url)?)?,
            revocation_url: url("revocation_url", &oauth.revocation_url)?,
            client_id: required("client_id", config.get("client_id").cloned())?,
            client_secret: match secrets {
                Some(secrets) => Some(
                    secrets
                        .get("client_secret")
                        .cloned()
                        .ok_or_else(|| AppConfigError::Missing("client_secret".into()))?,
                ),
                None => None,
            },
            scopes: match (config.get("scopes"), config.get("scope_template")) {
                (Some(scopes), _) => split_scopes(scopes),
                (None, Some(names)) => templated_scopes(oauth, names)?,
                (None, None) => oauth.scopes.clone(),
            },
            user_scopes: config
                .get("user_scopes")
                .map(|s| split_scopes(s))
                .unwrap_or_default(),
            redirect_uri: config.get("redirect_uri").cloned().unwrap_or_else(|| {
                format!(
                    "{}/oauth/{}/callback",
                    public_url.trim_end_matches('/'),
                    def.id
                )
            }),
            def: oauth.clone(),
            config: config.clone(),
        };
        for url in [&app.authorization_url, &app.token_url]
            .into_iter()
            .chain(app.revocation_url.as_ref())
        {
            check_url(url)?;
        }
        Ok(app)
    }

    /// Whether the provider takes PKCE.
    pub fn pkce(&self) -> bool {
        self.def.pkce
    }

    /// The URL to send the user to; `login_hint` is passed on when the start request had one.
    pub fn authorize_url(
        &self,
        state: &str,
        code_challenge: Option<&str>,
        login_hint: Option<&str>,
    ) -> String {
        let mut params: Vec<(String, String)> = vec![
            ("response_type".into(), "code".into()),
            (self.def.client_id_param.clone(), self.client_id.clone()),
            ("redirect_uri".into(), self.redirect_uri.clone()),
            ("state".into(), state.into()),
        ];
        if !self.scopes.is_empty() {
            params.push(("scope".into(), self.scopes.join(&self.def.scope_separator)));
        }
        if let (Some(param), false) = (&self.def.user_scopes_param, self.user_scopes.is_empty()) {
            params.push((
                param.clone(),
                self.user_scopes.join(&self.def.scope_separator),
            ));
        }
        if let Some(challenge) = code_challenge {
            params.push(("code_challenge".into(), challenge.into()));
            params.push(("code_challenge_method".into(), "S256".into()));
        }
        for (k, v) in &self.def.authorize_params {
            params.push((k.clone(), v.clone()));
        }
        if let Some(hint) = login_hint {
            params.push(("login_hint".into(), hint.into()));
        }
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let sep = if self.authorization_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{sep}{query}", self.authorization_url)
    }

    /// Exchanges an authorization code (with the PKCE verifier when one was sent).
    pub async fn exchange_code(
        &self,
        http: &reqwest::Client,
        code: &str,
        verifier: Option<&str>,
    ) -> Result<TokenSet, TokenError> {
        let mut params = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", self.redirect_uri.clone()),
        ];
        if let Some(v) = verifier {
            params.push(("code_verifier", v.to_owned()));
        }
        let body = self.post_token(http, &self.token_url, params).await?;
        self.token_set(&body, None)
    }

    /// Uses a refresh token. A response without a new refresh token keeps the old one.
    pub async fn refresh(
        &self,
        http: &reqwest::Client,
        refresh_token: &SecretString,
    ) -> Result<TokenSet, TokenError> {
        let params = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh_token.expose().to_owned()),
        ];
        let body = self.post_token(http, &self.token_url, params).await?;
        self.token_set(&body, Some(refresh_token))
    }

    /// Revokes `token` (RFC 7009). `Ok(false)`: the provider has no revocation endpoint.
    pub async fn revoke(
        &self,
        http: &reqwest::Client,
        token: &SecretString,
        hint: &str,
    ) -> Result<bool, TokenError> {
        let Some(url) = &self.revocation_url else {
            return Ok(false);
        };
        let params = vec![
            ("token", token.expose().to_owned()),
            ("token_type_hint", hint.to_owned()),
        ];
        // RFC 7009: 200 whether or not the token was still valid.
        self.post_token(http, url, params).await.map(|_| true)
    }

    async fn post_token(
        &self,
        http: &reqwest::Client,
        url: &str,
        mut params: Vec<(&str, String)>,
    ) -> Result<Value, TokenError> {
        let secret = self
            .client_secret
            .as_ref()
            .ok_or_else(|| TokenError::Rejected {
                status: 0,
                error: "client_secret was not loaded".into(),
            })?;
        let mut request = http.post(url).header("accept", "application/json");
        match self.def.client_auth {
            ClientAuth::Basic => {
                request = request.basic_auth(&self.client_id, Some(secret.expose()));
            }
            ClientAuth::Post => {
                params.push((self.def.client_id_param.as_str(), self.client_id.clone()));
                params.push(("client_secret", secret.expose().to_owned()));
            }
        }
        request = match self.def.token_request {
            TokenRequestFormat::Form => request.form(&params),
            TokenRequestFormat::Json => {
                let map: serde_json::Map<String, Value> = params
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), Value::String(v)))
                    .collect();
                request.json(&map)
            }
        };
        let response = request
            .send()
            .await
            .map_err(|e| TokenError::Transient(crate::error::chain(&e)))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| TokenError::Transient(crate::error::chain(&e)))?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let error = body
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if status == 429 || status >= 500 {
            return Err(TokenError::Transient(format!("HTTP {status} {error}")));
        }
        let ok_flag_false = self
            .def
            .token_response
            .ok_flag
            .as_deref()
            .is_some_and(|p| body.pointer(p) != Some(&Value::Bool(true)));
        if !(200..300).contains(&status) || ok_flag_false {
            // invalid_grant, and Slack's names for a dead grant, mean the user must reconnect.
            return Err(match error.as_str() {
                "invalid_grant" | "invalid_refresh_token" | "token_revoked" | "token_expired" => {
                    TokenError::InvalidGrant(describe(&body))
                }
                _ => TokenError::Rejected {
                    status,
                    error: if error.is_empty() {
                        format!("HTTP {status}")
                    } else {
                        describe(&body)
                    },
                },
            });
        }
        Ok(body)
    }

    fn token_set(
        &self,
        body: &Value,
        previous_refresh: Option<&SecretString>,
    ) -> Result<TokenSet, TokenError> {
        let access_token = body
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| TokenError::Rejected {
                status: 200,
                error: "token response without access_token".into(),
            })?;
        let refresh_token = body
            .get("refresh_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(SecretString::from)
            .or_else(|| previous_refresh.cloned());
        let expires_in = body.get("expires_in").and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        });
        let scopes = body
            .get("scope")
            .and_then(Value::as_str)
            .map(split_scopes)
            .unwrap_or_else(|| self.scopes.clone());
        let claims = body
            .get("id_token")
            .and_then(Value::as_str)
            .and_then(id_token_claims);
        let fact = |path: &Option<String>| -> Option<String> {
            let path = path.as_deref()?;
            let value = if let Some(claim) = path.strip_prefix("id_token#") {
                claims.as_ref()?.get(claim)?.clone()
            } else if let Some(key) = path.strip_prefix("config#") {
                return self.config.get(key).cloned();
            } else {
                body.pointer(path)?.clone()
            };
            match value {
                Value::String(s) => Some(s),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        let r = &self.def.token_response;
        Ok(TokenSet {
            access_token: SecretString::from(access_token),
            refresh_token,
            expires_in,
            scopes,
            account_id: fact(&r.account_id),
            account_name: fact(&r.account_name),
            account_email: fact(&r.account_email),
        })
    }
}

/// `error: error_description` of an OAuth error body (never tokens: error bodies carry none).
fn describe(body: &Value) -> String {
    let error = body.get("error").and_then(Value::as_str).unwrap_or("error");
    match body.get("error_description").and_then(Value::as_str) {
        Some(d) => format!("{error}: {d}"),
        None => error.to_owned(),
    }
}

/// The claims of an ID token received directly from the token endpoint over TLS (OpenID
/// Connect Core 3.1.3.7 lets the client rely on TLS instead of the signature there).
fn id_token_claims(jwt: &str) -> Option<serde_json::Map<String, Value>> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Registry;

    fn instance(provider: &str, config: &[(&str, &str)]) -> Instance {
        Instance {
            id: "i1".into(),
            provider: provider.into(),
            workspace: "w".into(),
            config: config
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            secret_keys: vec!["client_secret".into()],
            sealed: None,
            grants: BTreeMap::new(),
            created_at: 0,
            updated_at: 0,
        }
    }

    fn secrets() -> BTreeMap<String, SecretString> {
        [("client_secret".to_owned(), SecretString::from("shh"))].into()
    }

    #[test]
    fn google_authorize_url_has_offline_access_and_pkce() {
        let registry = Registry::load().expect("registry");
        let app = OAuthApp::resolve(
            registry.get("google").expect("google"),
            &instance(
                "google",
                &[
                    ("client_id", "cid"),
                    (
                        "scopes",
                        "openid https://www.googleapis.com/auth/gmail.readonly",
                    ),
                ],
            ),
            Some(&secrets()),
            "https://gw.example/",
        )
        .expect("app");
        assert_eq!(app.redirect_uri, "https://gw.example/oauth/google/callback");
        let url = app.authorize_url("st", Some("ch"), None);
        assert!(url.starts_with(
            "https://accounts.google.com/o/oauth2/v2/auth?response_type=code&client_id=cid"
        ));
        for part in [
            "access_type=offline",
            "prompt=consent",
            "code_challenge=ch",
            "code_challenge_method=S256",
            "state=st",
            "scope=openid+https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fgmail.readonly",
        ] {
            assert!(url.contains(part), "{part} missing from {url}");
        }
        assert!(!url.contains("shh"));
    }

    #[test]
    fn urls_must_be_https_except_on_loopback() {
        assert!(check_url("https://idp.example/token").is_ok());
        assert!(check_url("http://127.0.0.1:4000/token").is_ok());
        assert!(check_url("http://localhost/token").is_ok());
        assert!(check_url("http://idp.example/token").is_err());
        assert!(check_url("http://127.0.0.1.evil.example/token").is_err());
        assert!(check_url("http://localhost.evil.example/token").is_err());
    }

    #[test]
    fn shopify_urls_are_per_shop_and_tiktok_uses_client_key() {
        let registry = Registry::load().expect("registry");
        let app = OAuthApp::resolve(
            registry.get("shopify").expect("shopify"),
            &instance(
                "shopify",
                &[("client_id", "cid"), ("shop", "acme.myshopify.com")],
            ),
            Some(&secrets()),
            "https://gw",
        )
        .expect("app");
        assert_eq!(
            app.token_url,
            "https://acme.myshopify.com/admin/oauth/access_token"
        );
        let missing = OAuthApp::resolve(
            registry.get("shopify").expect("shopify"),
            &instance("shopify", &[("client_id", "cid")]),
            Some(&secrets()),
            "https://gw",
        )
        .expect_err("no shop");
        assert_eq!(missing, AppConfigError::Missing("shop".into()));
        let tiktok = OAuthApp::resolve(
            registry.get("tiktok").expect("tiktok"),
            &instance("tiktok", &[("client_id", "ck")]),
            Some(&secrets()),
            "https://gw",
        )
        .expect("app");
        assert!(tiktok
            .authorize_url("s", None, None)
            .contains("client_key=ck"));
        assert!(tiktok
            .authorize_url("s", None, None)
            .contains("scope=user.info.basic"));
    }

    #[test]
    fn token_response_facts_from_pointers_and_id_token() {
        let registry = Registry::load().expect("registry");
        let slack = OAuthApp::resolve(
            registry.get("slack").expect("slack"),
            &instance(
                "slack",
                &[("client_id", "cid"), ("user_scopes", "search:read")],
            ),
            Some(&secrets()),
            "https://gw",
        )
        .expect("app");
        assert!(slack
            .authorize_url("s", None, None)
            .contains("user_scope=search%3Aread"));
        let body = serde_json::json!({"ok": true, "access_token": "xoxb-1", "scope": "chat:write,channels:history",
            "team": {"id": "T1", "name": "Acme"}});
        let set = slack.token_set(&body, None).expect("tokens");
        assert_eq!(set.account_id.as_deref(), Some("T1"));
        assert_eq!(set.scopes, ["chat:write", "channels:history"]);
        assert!(!format!("{set:?}").contains("xoxb-1"));

        let claims = URL_SAFE_NO_PAD.encode(br#"{"sub":"alice","email":"alice@example.com"}"#);
        let google = OAuthApp::resolve(
            registry.get("google").expect("google"),
            &instance("google", &[("client_id", "cid")]),
            Some(&secrets()),
            "https://gw",
        )
        .expect("app");
        let body = serde_json::json!({"access_token": "ya29", "expires_in": 3599, "id_token": format!("h.{claims}.s")});
        let set = google
            .token_set(&body, Some(&SecretString::from("old-rt")))
            .expect("tokens");
        assert_eq!(set.account_id.as_deref(), Some("alice"));
        assert_eq!(set.account_email.as_deref(), Some("alice@example.com"));
        assert_eq!(set.expires_in, Some(3599));
        assert_eq!(
            set.refresh_token.as_ref().map(SecretString::expose),
            Some("old-rt")
        );
    }

    #[test]
    fn scope_templates_ask_only_for_the_named_sets() {
        let registry = Registry::load().expect("registry");
        let google = registry.get("google").expect("google");
        let resolve = |config: &[(&str, &str)]| {
            OAuthApp::resolve(google, &instance("google", config), None, "https://gw")
        };
        let app = resolve(&[
            ("client_id", "cid"),
            (
                "scope_template",
                "send-mail, files-created-by-app,send-mail",
            ),
        ])
        .expect("app");
        assert_eq!(
            app.scopes,
            [
                "openid",
                "email",
                "https://www.googleapis.com/auth/gmail.send",
                "https://www.googleapis.com/auth/drive.file",
            ]
        );
        assert!(app
            .authorize_url("s", None, None)
            .contains("scope=openid+email+https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fgmail.send+"));
        let unknown = resolve(&[("client_id", "cid"), ("scope_template", "everything")])
            .expect_err("unknown template");
        assert_eq!(
            unknown,
            AppConfigError::UnknownScopeTemplate("everything".into())
        );
        // An explicit `scopes` wins over templates.
        let explicit = resolve(&[
            ("client_id", "cid"),
            ("scopes", "openid"),
            ("scope_template", "send-mail"),
        ])
        .expect("app");
        assert_eq!(explicit.scopes, ["openid"]);
    }
}
