//! A watch's lifecycle: create (subscribe, then a baseline sync), renew, stop.
//!
//! - Gmail: `users.watch` on the configured Pub/Sub topic, filtered on the watch's label; renewed
//!   by calling it again once the last call is older than [`crate::Settings::gmail_rewatch_secs`]
//!   (its expiry, a week after the call, is within a week less that); stopped with `users.stop`.
//! - Drive and Calendar: a push channel (`changes.watch`, `events.watch`) to
//!   `<public url>/webhooks/google-channel/<instance>` with a fresh unique id and a random token
//!   (only its SHA-256 is stored). The channel item is written before the watch call so a
//!   notification that beats the answer verifies. Renewal opens the new channel first, points the
//!   watch at it, then stops the old one and deletes its item: the overlap means no change goes
//!   unnotified, and any notified twice is deduplicated by the sync.

use rand::RngCore;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::time::Instant;

use switchyard_aws::instances::{Instance, InstanceError};
use switchyard_aws::watches::{token_digest, Channel, Watch, WatchError, WatchStatus, WatchUpdate};

use crate::api::{millis_to_secs, ApiError};
use crate::resource::{BadResource, Resource};
use crate::sync::{self, Mode, SyncError};
use crate::GoogleSync;

/// Gmail keeps a watch this long after the last `users.watch` call.
pub const GMAIL_WATCH_LIFETIME_SECS: u64 = 7 * 86_400;

/// The provider of the instances watches run on.
pub const PROVIDER: &str = "google";

/// Why a watch could not be created, renewed or stopped.
#[derive(Debug, thiserror::Error)]
pub enum WatchOpError {
    #[error("no instance {0}")]
    NoInstance(String),
    #[error("instance {0} is not a {PROVIDER} instance")]
    NotGoogle(String),
    #[error("no watch {0}")]
    NoWatch(String),
    #[error("no Gmail Pub/Sub topic is configured (SWITCHYARD_GMAIL_TOPIC)")]
    NoTopic,
    #[error(transparent)]
    Resource(#[from] BadResource),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("Google's answer to {call} lacks {field}")]
    Unexpected {
        call: &'static str,
        field: &'static str,
    },
    #[error(transparent)]
    Watches(#[from] WatchError),
    #[error(transparent)]
    Instances(#[from] InstanceError),
    #[error("baseline sync: {0}")]
    Sync(#[from] Box<SyncError>),
}

/// Creates the watch of `instance_id` on `resource` (or returns the live one that exists):
/// subscribes, then records the baseline cursor. `label_events`: Gmail also emits
/// `gmail.labels_changed`.
pub async fn create(
    app: &GoogleSync,
    instance_id: &str,
    resource: &Resource,
    label_events: bool,
    deadline: Instant,
) -> Result<Watch, WatchOpError> {
    let instance = google_instance(app, instance_id).await?;
    let now = app.now();
    let mut watch = Watch::new(instance_id, PROVIDER, resource.kind(), resource.id(), now);
    watch.connection_id = instance.config.get("connection_id").cloned();
    watch.label_events = label_events && matches!(resource, Resource::Gmail { .. });
    if !app.watches.create(&watch).await? {
        match app.watches.get(&watch.id).await? {
            Some(existing) if existing.status != WatchStatus::Stopped => return Ok(existing),
            _ => {
                // A stopped watch starts over: new subscription, new baseline.
                app.watches.delete(&watch.id).await?;
                app.watches.create(&watch).await?;
            }
        }
    }
    if let Err(e) = subscribe(app, &instance, &watch, resource, deadline).await {
        app.watches.delete(&watch.id).await?;
        return Err(e);
    }
    sync::sync_watch(app, &watch.id, Mode::Incremental, deadline)
        .await
        .map_err(Box::new)?;
    app.watches
        .get(&watch.id)
        .await?
        .ok_or_else(|| WatchOpError::NoWatch(watch.id.clone()))
}

async fn google_instance(app: &GoogleSync, instance_id: &str) -> Result<Instance, WatchOpError> {
    let instance = app
        .ingress
        .instances
        .get(instance_id)
        .await?
        .ok_or_else(|| WatchOpError::NoInstance(instance_id.to_owned()))?;
    if instance.provider != PROVIDER {
        return Err(WatchOpError::NotGoogle(instance_id.to_owned()));
    }
    Ok(instance)
}

/// Subscribes (or re-subscribes) `watch` and records the subscription on it.
async fn subscribe(
    app: &GoogleSync,
    instance: &Instance,
    watch: &Watch,
    resource: &Resource,
    deadline: Instant,
) -> Result<(), WatchOpError> {
    let now = app.now();
    let mut update = match resource {
        Resource::Gmail { label } => {
            let topic = app
                .settings
                .gmail_topic
                .clone()
                .ok_or(WatchOpError::NoTopic)?;
            let answer = crate::api::call(
                app,
                instance,
                "gmail_watch",
                json!({"topicName": topic, "labelIds": [label], "labelFilterBehavior": "INCLUDE"}),
                deadline,
            )
            .await?;
            let account = match &watch.account {
                Some(account) => account.clone(),
                None => {
                    let profile =
                        crate::api::call(app, instance, "gmail_get_profile", json!({}), deadline)
                            .await?;
                    text(&profile, "emailAddress").ok_or(WatchOpError::Unexpected {
                        call: "getProfile",
                        field: "emailAddress",
                    })?
                }
            };
            WatchUpdate {
                account: Some(account),
                expires_at: Some(
                    millis_to_secs(answer.get("expiration"))
                        .unwrap_or(now + GMAIL_WATCH_LIFETIME_SECS),
                ),
                ..WatchUpdate::default()
            }
        }
        _ => {
            let opened = open_channel(app, instance, watch, resource, deadline).await?;
            WatchUpdate {
                channel_id: Some(opened.id),
                channel_resource_id: Some(opened.resource_id),
                expires_at: Some(opened.expires_at),
                ..WatchUpdate::default()
            }
        }
    };
    update.status = Some(WatchStatus::Active);
    update.errors_in_a_row = Some(0);
    update.last_error = Some(None);
    app.watches.update(&watch.id, &update, now).await?;
    Ok(())
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// A channel Google accepted.
struct Opened {
    id: String,
    resource_id: String,
    expires_at: u64,
}

/// A random channel token: 32 bytes, hex.
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

async fn open_channel(
    app: &GoogleSync,
    instance: &Instance,
    watch: &Watch,
    resource: &Resource,
    deadline: Instant,
) -> Result<Opened, WatchOpError> {
    let now = app.now();
    let token = new_token();
    let mut channel = Channel {
        id: format!("sy-{}", uuid::Uuid::new_v4().simple()),
        watch_id: watch.id.clone(),
        instance_id: instance.id.clone(),
        resource_id: None,
        token_sha256: token_digest(&token),
        expires_at: now + app.settings.channel_ttl_secs,
        created_at: now,
    };
    app.watches.put_channel(&channel).await?;
    let mut input = json!({
        "id": channel.id,
        "type": "web_hook",
        "address": format!(
            "{}/webhooks/google-channel/{}",
            app.vault.public_url.trim_end_matches('/'),
            instance.id
        ),
        "token": token,
        "expiration": channel.expires_at * 1000,
    });
    let method = match resource {
        Resource::DriveChanges => {
            let page_token = match &watch.cursor {
                Some(cursor) => cursor.clone(),
                None => {
                    let answer = crate::api::call(
                        app,
                        instance,
                        "drive_start_page_token",
                        json!({}),
                        deadline,
                    )
                    .await?;
                    text(&answer, "startPageToken").ok_or(WatchOpError::Unexpected {
                        call: "changes.getStartPageToken",
                        field: "startPageToken",
                    })?
                }
            };
            input["pageToken"] = json!(page_token);
            "drive_changes_watch"
        }
        Resource::Calendar { calendar_id } => {
            input["calendarId"] = json!(calendar_id);
            "calendar_events_watch"
        }
        Resource::Gmail { .. } => {
            app.watches.delete_channel(&channel.id).await?;
            return Err(BadResource(format!("{resource} has no channels")).into());
        }
    };
    let answer = match crate::api::call(app, instance, method, input, deadline).await {
        Ok(answer) => answer,
        Err(e) => {
            app.watches.delete_channel(&channel.id).await?;
            return Err(e.into());
        }
    };
    let resource_id = text(&answer, "resourceId").ok_or(WatchOpError::Unexpected {
        call: "watch",
        field: "resourceId",
    })?;
    app.watches
        .set_channel_resource(&channel.id, &resource_id)
        .await?;
    if let Some(expires_at) = millis_to_secs(answer.get("expiration")) {
        channel.expires_at = expires_at;
    }
    Ok(Opened {
        id: channel.id,
        resource_id,
        expires_at: channel.expires_at,
    })
}

/// Stops one channel at Google (already gone there counts as stopped) and forgets it.
async fn stop_channel(
    app: &GoogleSync,
    instance: Option<&Instance>,
    resource: &Resource,
    channel: &Channel,
    deadline: Instant,
) -> Result<(), WatchOpError> {
    if let (Some(instance), Some(resource_id)) = (instance, &channel.resource_id) {
        let method = match resource {
            Resource::Calendar { .. } => "calendar_channels_stop",
            _ => "drive_channels_stop",
        };
        let input = json!({"id": channel.id, "resourceId": resource_id});
        match crate::api::call(app, instance, method, input, deadline).await {
            Ok(_) => {}
            Err(e) if e.is_status(404) => {}
            Err(e) => return Err(e.into()),
        }
    }
    app.watches.delete_channel(&channel.id).await?;
    Ok(())
}

/// What a renewal did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Renewal {
    NotDue,
    Renewed,
}

/// Whether `watch` needs renewing at `now`.
pub fn renewal_due(app: &GoogleSync, watch: &Watch, now: u64) -> bool {
    let Some(expires_at) = watch.expires_at else {
        return true;
    };
    let ahead = if watch.resource_type == "gmail" {
        GMAIL_WATCH_LIFETIME_SECS
            .saturating_sub(app.settings.gmail_rewatch_secs)
            .max(app.settings.renew_window_secs)
    } else {
        app.settings.renew_window_secs
    };
    expires_at <= now + ahead
}

/// Renews `watch` when due: Gmail `users.watch` again; a channel replaced with overlap.
pub async fn renew(
    app: &GoogleSync,
    watch: &Watch,
    deadline: Instant,
) -> Result<Renewal, WatchOpError> {
    if !renewal_due(app, watch, app.now()) {
        return Ok(Renewal::NotDue);
    }
    let resource = Resource::of(&watch.resource_type, &watch.resource_id)?;
    let instance = google_instance(app, &watch.instance_id).await?;
    let old = if resource.uses_channels() {
        app.watches.channels_of(&watch.id).await?
    } else {
        Vec::new()
    };
    subscribe(app, &instance, watch, &resource, deadline).await?;
    let current = app.watches.get(&watch.id).await?;
    let current_channel = current.and_then(|w| w.channel_id);
    for channel in old
        .iter()
        .filter(|c| Some(&c.id) != current_channel.as_ref())
    {
        // The new channel is live: a failure here leaves the old item for the next run.
        if let Err(e) = stop_channel(app, Some(&instance), &resource, channel, deadline).await {
            tracing::warn!(watch_id = %watch.id, channel_id = %channel.id, error = %e, "could not stop the old channel");
        }
    }
    tracing::info!(watch_id = %watch.id, "watch renewed");
    Ok(Renewal::Renewed)
}

/// What [`stop_all`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stopped {
    pub watches: usize,
    pub channels: usize,
    /// Google calls that failed (the items are removed anyway: nothing will renew them, and
    /// Google's side lapses at expiry).
    pub failures: usize,
}

/// Stops every watch of `instance_id`: Gmail `users.stop`, `channels.stop` for each channel,
/// channel items deleted, watches marked `stopped`. Run before the credentials or the instance
/// go (disconnect, instance deletion); an instance already gone only has its items cleaned up.
pub async fn stop_all(
    app: &GoogleSync,
    instance_id: &str,
    deadline: Instant,
) -> Result<Stopped, WatchOpError> {
    let instance = app.ingress.instances.get(instance_id).await?;
    let mut report = Stopped::default();
    for watch in app.watches.list_for_instance(instance_id).await? {
        let resource = Resource::of(&watch.resource_type, &watch.resource_id)?;
        if let (Resource::Gmail { .. }, Some(instance)) = (&resource, &instance) {
            if watch.status != WatchStatus::Stopped {
                if let Err(e) =
                    crate::api::call(app, instance, "gmail_stop", json!({}), deadline).await
                {
                    tracing::warn!(watch_id = %watch.id, error = %e, "users.stop failed");
                    report.failures += 1;
                }
            }
        }
        for channel in app.watches.channels_of(&watch.id).await? {
            if let Err(e) =
                stop_channel(app, instance.as_ref(), &resource, &channel, deadline).await
            {
                tracing::warn!(channel_id = %channel.id, error = %e, "channels.stop failed");
                report.failures += 1;
                app.watches.delete_channel(&channel.id).await?;
            }
            report.channels += 1;
        }
        let stopped = WatchUpdate {
            status: Some(WatchStatus::Stopped),
            ..WatchUpdate::default()
        };
        app.watches.update(&watch.id, &stopped, app.now()).await?;
        report.watches += 1;
    }
    Ok(report)
}
