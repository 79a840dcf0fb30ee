//! API keys for providers without OAuth: platform keys and workspace overrides.
//!
//! Platform keys (OpenAI and such) live in one Secrets Manager secret, a JSON object of
//! `name → key`, read once per cold start and again after [`PLATFORM_KEYS_TTL`]. A workspace
//! may override a platform key with its own, stored through the token vault as an `api_key`
//! connection (`connection_id("workspace:<w>", <name>)`, sealed with KMS like OAuth tokens).
//! [`api_key`] resolves a workspace's key: its own first, else the platform's.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::connections::{connection_id, Connection, Status};
use crate::error::chain;
use crate::secret::SecretString;
use switchyard_aws::audit::AuditLog;
use switchyard_aws::clients::AwsClients;
use switchyard_aws::connections::ConnectionStore;
use switchyard_aws::crypto::Keyring;
use switchyard_core::clock::Clock;
use switchyard_core::config::{self, Resources};

/// How long platform keys are cached per warm process.
pub const PLATFORM_KEYS_TTL: Duration = Duration::from_secs(300);

/// Why a key could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no key named {0} for this workspace or the platform")]
    Missing(String),
    #[error("key name {0:?} must be 1-64 characters of a-z 0-9 _ -")]
    BadName(String),
    #[error("platform key store unavailable: {0}")]
    Unavailable(String),
    #[error("platform key secret is not a JSON object of strings")]
    Corrupt,
}

/// Where a resolved key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    Workspace,
    Platform,
}

/// A resolved API key. `Debug` hides the value.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub name: String,
    pub value: SecretString,
    pub source: KeySource,
}

type Cache = Option<(Instant, HashMap<String, SecretString>)>;

/// The platform keys secret, cached.
#[derive(Debug)]
pub struct PlatformKeys {
    client: switchyard_aws::secretsmanager::Client,
    secret_id: String,
    ttl: Duration,
    cache: Mutex<Cache>,
}

impl PlatformKeys {
    pub fn new(
        client: switchyard_aws::secretsmanager::Client,
        secret_id: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
            ttl,
            cache: Mutex::new(None),
        }
    }

    /// The platform key `name`, from the cache while it is fresh.
    pub async fn get(&self, name: &str) -> Result<Option<SecretString>, KeyError> {
        if let Ok(cache) = self.cache.lock() {
            if let Some((at, keys)) = cache.as_ref() {
                if at.elapsed() < self.ttl {
                    return Ok(keys.get(name).cloned());
                }
            }
        }
        let keys = self.load().await?;
        let value = keys.get(name).cloned();
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some((Instant::now(), keys));
        }
        Ok(value)
    }

    async fn load(&self) -> Result<HashMap<String, SecretString>, KeyError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| KeyError::Unavailable(chain(&e)))?;
        let map: HashMap<String, String> =
            serde_json::from_str(out.secret_string().unwrap_or("{}"))
                .map_err(|_| KeyError::Corrupt)?;
        Ok(map
            .into_iter()
            .map(|(k, v)| (k, SecretString::from(v)))
            .collect())
    }

    /// Sets (or with `None` removes) a platform key: read, change one entry, write back. Admin
    /// only; the functions never write here.
    pub async fn put(&self, name: &str, value: Option<&SecretString>) -> Result<(), KeyError> {
        let mut keys: BTreeMap<String, String> = self
            .load()
            .await?
            .into_iter()
            .map(|(k, v)| (k, v.expose().to_owned()))
            .collect();
        match value {
            Some(v) => keys.insert(name.to_owned(), v.expose().to_owned()),
            None => keys.remove(name),
        };
        let text = serde_json::to_string(&keys).map_err(|_| KeyError::Corrupt)?;
        self.client
            .put_secret_value()
            .secret_id(&self.secret_id)
            .secret_string(text)
            .send()
            .await
            .map_err(|e| KeyError::Unavailable(chain(&e)))?;
        if let Ok(mut cache) = self.cache.lock() {
            *cache = None;
        }
        Ok(())
    }
}

/// What resolving and setting API keys uses: workspace keys are connections sealed like OAuth
/// tokens, platform keys one Secrets Manager secret, and every change is audited.
#[derive(Debug)]
pub struct Keys {
    pub connections: ConnectionStore,
    pub keyring: Keyring,
    pub platform_keys: PlatformKeys,
    pub audit: AuditLog,
    pub clock: Clock,
    /// Who is acting, for the audit log.
    pub actor: String,
}

impl Keys {
    /// From parts: DynamoDB, KMS and Secrets Manager clients; platform keys cached for `ttl`.
    pub fn new(aws: &AwsClients, resources: &Resources, clock: Clock, ttl: Duration) -> Self {
        let dynamodb = aws.dynamodb();
        Self {
            connections: ConnectionStore::new(dynamodb, &resources.connections_table),
            keyring: Keyring::new(aws.wire(), &resources.kms_key_id),
            platform_keys: PlatformKeys::new(aws.secrets(), &resources.platform_keys_secret, ttl),
            audit: AuditLog::new(aws, &resources.audit_table),
            clock,
            actor: config::actor(),
        }
    }
}

fn check_name(name: &str) -> Result<(), KeyError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    ok.then_some(())
        .ok_or_else(|| KeyError::BadName(name.to_owned()))
}

fn workspace_owner(workspace: &str) -> String {
    format!("workspace:{workspace}")
}

/// The connection id of `workspace`'s own key `name`.
pub fn workspace_key_id(workspace: &str, name: &str) -> String {
    connection_id(&workspace_owner(workspace), name)
}

/// The key `name` for `workspace`: the workspace's own, else the platform's.
pub async fn api_key(app: &Keys, workspace: &str, name: &str) -> Result<ApiKey, KeyError> {
    check_name(name)?;
    let id = workspace_key_id(workspace, name);
    let own = app
        .connections
        .get(&id)
        .await
        .map_err(|e| KeyError::Unavailable(e.to_string()))?
        .filter(|c| c.status == Status::Active && c.auth_type == "api_key");
    if let Some(sealed) = own.as_ref().and_then(|c| c.sealed.as_ref()) {
        let mut opened = app
            .keyring
            .open_for(crate::vault::CONTEXT, &id, sealed)
            .await
            .map_err(|e| KeyError::Unavailable(e.to_string()))?;
        if let Some(value) = opened.remove("api_key") {
            return Ok(ApiKey {
                name: name.to_owned(),
                value,
                source: KeySource::Workspace,
            });
        }
    }
    match app.platform_keys.get(name).await? {
        Some(value) => Ok(ApiKey {
            name: name.to_owned(),
            value,
            source: KeySource::Platform,
        }),
        None => Err(KeyError::Missing(name.to_owned())),
    }
}

/// Stores `workspace`'s own key `name` (sealed), overriding the platform key.
pub async fn set_workspace_key(
    app: &Keys,
    workspace: &str,
    name: &str,
    value: &SecretString,
) -> Result<String, KeyError> {
    check_name(name)?;
    let id = workspace_key_id(workspace, name);
    let sealed = app
        .keyring
        .seal_for(
            name,
            crate::vault::CONTEXT,
            &id,
            &BTreeMap::from([("api_key".to_owned(), value.clone())]),
        )
        .await
        .map_err(|e| KeyError::Unavailable(e.to_string()))?;
    let now = app.clock.now();
    let connection = Connection {
        id: id.clone(),
        instance_id: workspace_owner(workspace),
        provider: name.to_owned(),
        workspace: workspace.to_owned(),
        auth_type: "api_key".into(),
        account_id: None,
        account_name: None,
        account_email: None,
        owner: None,
        scopes: Vec::new(),
        status: Status::Active,
        token_expires_at: None,
        token_issued_at: None,
        has_refresh_token: false,
        sealed: Some(sealed),
        version: 0,
        lease_until: None,
        created_at: now,
        updated_at: now,
        last_refreshed_at: None,
        last_error: None,
    };
    app.connections
        .upsert(&connection, now)
        .await
        .map_err(|e| KeyError::Unavailable(e.to_string()))?;
    audit(
        app,
        &format!("connection#{id}"),
        &format!("workspace {workspace} key {name} set"),
    )
    .await;
    Ok(id)
}

/// Sets a platform key (Secrets Manager).
pub async fn set_platform_key(
    app: &Keys,
    name: &str,
    value: &SecretString,
) -> Result<(), KeyError> {
    check_name(name)?;
    app.platform_keys.put(name, Some(value)).await?;
    audit(app, &format!("platform-key#{name}"), "platform key set").await;
    Ok(())
}

async fn audit(app: &Keys, target: &str, detail: &str) {
    if let Err(e) = app
        .audit
        .record(target, &app.actor, "secret_update", detail, app.clock.now())
        .await
    {
        tracing::error!(target, error = %e, "could not audit a key update");
    }
}
