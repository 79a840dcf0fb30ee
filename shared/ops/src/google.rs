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
        owner: None,
        // What a full grant holds (the fake grants the token the same).
        scopes: [
            "https://mail.google.com/",
            "https://www.googleapis.com/auth/drive",
            "https://www.googleapis.com/auth/calendar",
            "https://www.googleapis.com/auth/documents",
        ]
        .map(str::to_owned)
        .to_vec(),
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

/// The local stack's Google demo against `fake` (started by the local host): a few mails,
/// files and events, instance [`DEMO_INSTANCE`] on a connection holding [`DEMO_TOKEN`] (granted
/// on the fake), `demo-agent` granted every event, and the [`DEMO_RESOURCES`] watches. The fake
/// is new at every start, so an instance left by an earlier run is replaced.
pub async fn seed_demo(
    app: &App,
    fake: &switchyard_google_fake::GoogleFake,
) -> Result<Vec<Watch>, DemoError> {
    use switchyard_google_fake::GoogleFake;
    fake.grant_all(DEMO_TOKEN);
    fake.gmail_receive(
        "Ada Lovelace <ada@example.com>",
        GoogleFake::EMAIL,
        "Welcome to the demo",
        "Mail that arrives after start-up becomes gmail.message_added.",
        &["INBOX", "UNREAD"],
    );
    fake.docs_put(
        "Demo plan",
        &[("HEADING_1", "Plan"), ("NORMAL_TEXT", "Ship it.")],
    );
    fake.calendar_upsert(
        "primary",
        &serde_json::json!({
            "summary": "Demo standup",
            "start": {"dateTime": "2026-01-05T09:00:00Z"},
            "end": {"dateTime": "2026-01-05T09:15:00Z"},
        }),
    );
    // The previous run's fake is gone with its channels: forget them without calling it.
    for w in app.watches.list_for_instance(DEMO_INSTANCE).await? {
        for channel in app.watches.channels_of(&w.id).await? {
            app.watches.delete_channel(&channel.id).await?;
        }
        app.watches.delete(&w.id).await?;
    }
    app.instances
        .delete(DEMO_INSTANCE)
        .await
        .map_err(AdminError::from)?;
    seed_instance(
        app,
        DEMO_INSTANCE,
        switchyard::providers::demo::WORKSPACE,
        &fake.base_url,
        GoogleFake::EMAIL,
        DEMO_TOKEN,
    )
    .await?;
    let every_event = switchyard::policy::TriggerPolicy {
        trigger: switchyard::policy::Trigger::All,
        ..Default::default()
    };
    crate::admin::grant(
        app,
        DEMO_INSTANCE,
        switchyard::providers::demo::AGENT,
        &every_event,
    )
    .await?;
    let mut watches = Vec::new();
    for resource in DEMO_RESOURCES {
        watches.push(create_watch(app, DEMO_INSTANCE, resource, true).await?);
    }
    Ok(watches)
}

/// Why the Google demo could not be seeded.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Seed(#[from] SeedError),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Watch(#[from] WatchOpError),
    #[error(transparent)]
    Watches(#[from] switchyard::watches::WatchError),
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

/// `switchyard watch ...`.
#[derive(Debug, clap::Subcommand)]
pub enum WatchCmd {
    /// Subscribes an instance to a resource and records the baseline cursor (nothing emitted
    /// for what exists already). Gmail needs SWITCHYARD_GMAIL_TOPIC.
    Create {
        #[arg(long)]
        instance: String,
        /// `gmail:<label>` (e.g. gmail:INBOX), `drive:changes` or `calendar:<calendar id>`.
        #[arg(long)]
        resource: String,
        /// Gmail: also emit gmail.labels_changed.
        #[arg(long)]
        labels: bool,
    },
    /// Every watch: status, expiry, cursor, sync lag, last error.
    List,
    /// Forces a full sync of one watch (Gmail: the newest messages; Calendar: every event;
    /// only what was not emitted before becomes an event).
    Resync {
        #[arg(long)]
        id: String,
    },
}

/// How long a CLI resync may take.
const RESYNC_DEADLINE: Duration = Duration::from_secs(300);

/// Runs a `watch` command.
pub async fn watch_command(
    app: &App,
    cmd: WatchCmd,
    out: &mut dyn std::io::Write,
    // Progress is drawn on the process's stderr itself: whether it is a terminal decides how.
    _err: &mut dyn std::io::Write,
) -> Result<(), crate::cli::CliError> {
    match cmd {
        WatchCmd::Create {
            instance,
            resource,
            labels,
        } => {
            let w = create_watch(app, &instance, &resource, labels).await?;
            writeln!(out, "{}", list_line(&w, app.clock.now()))?;
        }
        WatchCmd::List => {
            let now = app.clock.now();
            writeln!(
                out,
                "{:<28} {:<16} {:<20} {:<8} {:<20} {:<20} {:<8} last error",
                "id", "instance", "resource", "status", "expires", "cursor", "lag"
            )?;
            for w in app.watches.list().await? {
                writeln!(out, "{}", list_line(&w, now))?;
            }
        }
        WatchCmd::Resync { id } => {
            let deadline = tokio::time::Instant::now() + RESYNC_DEADLINE;
            let bar = std::sync::Mutex::new(crate::progress::Progress::stderr("read", None));
            let show = |n: usize| {
                if let Ok(mut bar) = bar.lock() {
                    bar.set(n);
                }
            };
            let report = switchyard::google::sync::sync_watch_with_progress(
                app.google(),
                &id,
                switchyard::google::sync::Mode::Full,
                deadline,
                &show,
            )
            .await?;
            if let Ok(mut bar) = bar.lock() {
                bar.finish();
            }
            writeln!(
                out,
                "resynced {id}: {} read, {} new event(s){}",
                report.pulled,
                report.queued,
                if report.cursor_moved {
                    ", cursor moved"
                } else {
                    ""
                }
            )?;
        }
    }
    Ok(())
}

/// One `watch list` line.
pub fn list_line(w: &Watch, now: u64) -> String {
    let lag = match w.last_sync_at {
        Some(at) => age(now.saturating_sub(at)),
        None => "never".into(),
    };
    let expires = w
        .expires_at
        .map(switchyard::clock::rfc3339)
        .unwrap_or_else(|| "-".into());
    let cursor: String = w
        .cursor
        .as_deref()
        .unwrap_or("-")
        .chars()
        .take(20)
        .collect();
    format!(
        "{:<28} {:<16} {:<20} {:<8} {:<20} {:<20} {:<8} {}",
        w.id,
        w.instance_id,
        format!("{}:{}", w.resource_type, w.resource_id),
        w.status.as_str(),
        expires,
        cursor,
        lag,
        w.last_error.as_deref().unwrap_or("-"),
    )
}

/// `42s`, `5m`, `3h`, `2d`.
fn age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_bars_read_at_a_glance() {
        assert_eq!(age(42), "42s");
        assert_eq!(age(300), "5m");
        assert_eq!(age(3 * 3600), "3h");
        assert_eq!(age(3 * 86_400), "3d");
    }
}
