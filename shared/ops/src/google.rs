//! Google watches from the operator's side: seeding an instance that runs on a token (the local
//! stack's demo against the Google fake, and the tests), and the stop hooks of disconnect and
//! instance deletion (the oauth crate must not depend on the Google crate, so they live here).

use std::collections::BTreeMap;
use std::time::Duration;

use switchyard::connections::{connection_id, Connection, Status};
use switchyard::google::resource::Resource;
use switchyard::google::watch::{self, Stopped, WatchOpError};
use switchyard::instances::Instance;
use switchyard::secret::SecretString;
use switchyard::watches::Watch;
use switchyard::App;

use crate::admin::AdminError;

/// The demo Google instance of the local stack.
pub const DEMO_INSTANCE: &str = "demo-google";
/// The access token the demo connection holds (the local host grants it on its Google fake).
pub const DEMO_TOKEN: &str = "ya29.demo-google-token";
/// The demo watches: the inbox, every Drive change, the primary calendar.
pub const DEMO_RESOURCES: &[&str] = &["gmail:INBOX", "drive:changes", "calendar:primary"];
/// The Gmail topic the demo watches name (the fake accepts any well-formed one).
pub const DEMO_TOPIC: &str = "projects/switchyard-demo/topics/gmail";

/// How long a stop may take at Google.
const STOP_DEADLINE: Duration = Duration::from_secs(20);

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Crypto(#[from] switchyard::crypto::CryptoError),
    #[error(transparent)]
    Connections(#[from] switchyard::connections::ConnectionError),
}

/// Creates Google instance `id` whose calls go to `api_base_url` on an OAuth connection holding
/// `access_token` (no refresh token, no expiry), for `account`. Used where the token comes from
/// a fake, never with a real Google token.
pub async fn seed_instance(
    app: &App,
    id: &str,
    workspace: &str,
    api_base_url: &str,
    account: &str,
    access_token: &str,
) -> Result<Instance, SeedError> {
    let connection = connection_id(id, account);
    // Token refresh and revocation go to the same base: nothing of this instance reaches Google.
    let token_url = format!("{api_base_url}/token");
    let revocation_url = format!("{api_base_url}/revoke");
    let settings: Vec<(String, String)> = [
        ("client_id", "demo-client"),
        ("client_secret", "demo-secret"),
        ("token_url", token_url.as_str()),
        ("revocation_url", revocation_url.as_str()),
        ("api_base_url", api_base_url),
        ("connection_id", connection.as_str()),
        ("gmail_address", account),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let instance = crate::admin::create_instance(app, "google", id, workspace, &settings).await?;
    let tokens: BTreeMap<String, SecretString> =
        [("access_token".to_owned(), SecretString::from(access_token))].into();
    let sealed = app
        .keyring
        .seal_for(
            "google",
            switchyard::oauth::vault::CONTEXT,
            &connection,
            &tokens,
        )
        .await?;
    let now = app.clock.now();
    let record = Connection {
        id: connection,
        instance_id: id.to_owned(),
        provider: "google".into(),
        workspace: workspace.to_owned(),
        auth_type: "oauth2".into(),
        account_id: Some(account.to_owned()),
        account_name: None,
        account_email: Some(account.to_owned()),
        scopes: Vec::new(),
        status: Status::Active,
        token_expires_at: None,
        token_issued_at: Some(now),
        has_refresh_token: false,
        sealed: Some(sealed),
        version: 0,
        lease_until: None,
        created_at: now,
        updated_at: now,
        last_refreshed_at: None,
        last_error: None,
    };
    app.connections.upsert(&record, now).await?;
    Ok(instance)
}

/// Creates the watch of `instance` on `resource` (subscribe + baseline).
pub async fn create_watch(
    app: &App,
    instance: &str,
    resource: &str,
    label_events: bool,
) -> Result<Watch, WatchOpError> {
    let resource = Resource::parse(resource)?;
    let deadline = tokio::time::Instant::now() + STOP_DEADLINE;
    watch::create(app.google(), instance, &resource, label_events, deadline).await
}

/// Stops every watch of `instance` at Google and here (before its credentials or the instance
/// itself go away).
pub async fn stop_watches(app: &App, instance: &str) -> Result<Stopped, WatchOpError> {
    let deadline = tokio::time::Instant::now() + STOP_DEADLINE;
    let stopped = watch::stop_all(app.google(), instance, deadline).await?;
    if stopped.watches > 0 {
        tracing::info!(instance, ?stopped, "watches stopped");
    }
    Ok(stopped)
}

/// Disconnects `connection_id` after stopping the watches of its instance (they run on it).
pub async fn disconnect(
    app: &App,
    connection_id: &str,
    force: bool,
) -> Result<switchyard::oauth::vault::Disconnected, Box<dyn std::error::Error + Send + Sync>> {
    if let Some(connection) = app.connections.get(connection_id).await? {
        if let Err(e) = stop_watches(app, &connection.instance_id).await {
            if !force {
                return Err(Box::new(e));
            }
            tracing::warn!(connection_id, error = %e, "could not stop the watches; disconnecting anyway (forced)");
        }
    }
    Ok(switchyard::oauth::vault::disconnect(app.vault(), connection_id, force).await?)
}
