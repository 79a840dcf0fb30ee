//! Operator actions behind the `switchyard` CLI: instances, grants, deliveries, the DLQ and the
//! event tap. Output types never carry secret values.

use std::collections::BTreeMap;

use aws_sdk_sqs::types::{MessageSystemAttributeName, SendMessageBatchRequestEntry};
use serde::Serialize;

use crate::crypto::CryptoError;
use crate::error::chain;
use crate::instances::{check_id, Instance, InstanceError};
use crate::policy::TriggerPolicy;
use crate::secret::SecretString;
use crate::workitem::WorkItem;
use crate::App;

/// Why an admin action failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("unknown provider {0:?} (known: {1})")]
    UnknownProvider(String, String),
    #[error("{provider} has no config key {key:?} (known: {known})")]
    UnknownKey {
        provider: String,
        key: String,
        known: String,
    },
    #[error("{provider} needs {key}: add --set {key}=...")]
    MissingKey { provider: String, key: String },
    #[error("no event tap queue is configured (SWITCHYARD_TAP_QUEUE_URL)")]
    NoTap,
    #[error(transparent)]
    Instance(#[from] InstanceError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Deliveries(#[from] crate::deliveries::DeliveryError),
    #[error("queue: {0}")]
    Queue(String),
}

/// Creates an instance; values of the provider's sensitive keys are sealed with KMS.
pub async fn create_instance(
    app: &App,
    provider: &str,
    id: &str,
    workspace: &str,
    settings: &[(String, String)],
) -> Result<Instance, AdminError> {
    let def = app.registry.get(provider).ok_or_else(|| {
        AdminError::UnknownProvider(
            provider.to_owned(),
            app.registry.ids().collect::<Vec<_>>().join(", "),
        )
    })?;
    check_id(id)?;
    let keys = &def.config;
    let mut config = BTreeMap::new();
    let mut secrets = BTreeMap::new();
    for (key, value) in settings {
        let known = keys
            .required
            .iter()
            .chain(&keys.optional)
            .chain(&keys.sensitive);
        if !known.clone().any(|k| k == key) {
            return Err(AdminError::UnknownKey {
                provider: provider.to_owned(),
                key: key.clone(),
                known: known.cloned().collect::<Vec<_>>().join(", "),
            });
        }
        if keys.is_sensitive(key) {
            secrets.insert(key.clone(), SecretString::from(value.as_str()));
        } else {
            config.insert(key.clone(), value.clone());
        }
    }
    if let Some(missing) = keys
        .required
        .iter()
        .find(|k| !config.contains_key(*k) && !secrets.contains_key(*k))
    {
        return Err(AdminError::MissingKey {
            provider: provider.to_owned(),
            key: missing.clone(),
        });
    }
    let sealed = if secrets.is_empty() {
        None
    } else {
        Some(app.keyring.seal(id, &secrets).await?)
    };
    let now = app.clock.now();
    let instance = Instance {
        id: id.to_owned(),
        provider: provider.to_owned(),
        workspace: workspace.to_owned(),
        config,
        secret_keys: secrets.into_keys().collect(),
        sealed,
        grants: BTreeMap::new(),
        created_at: now,
        updated_at: now,
    };
    app.instances.create(&instance).await?;
    tracing::info!(instance_id = id, provider, "instance created");
    Ok(instance)
}

/// Grants `agent` the instance `id` with `policy`.
pub async fn grant(
    app: &App,
    id: &str,
    agent: &str,
    policy: &TriggerPolicy,
) -> Result<(), AdminError> {
    app.instances
        .grant(id, agent, policy, app.clock.now())
        .await?;
    tracing::info!(instance_id = id, agent, "grant written");
    Ok(())
}

/// One DLQ message, summarized (payloads are never printed: they can hold tokens).
#[derive(Debug, Clone, Serialize)]
pub struct DlqEntry {
    pub message_id: String,
    pub receive_count: u32,
    pub sent_at: u64,
    pub work_item_id: Option<String>,
    pub provider: Option<String>,
    pub instance_id: Option<String>,
    pub kind: Option<String>,
    pub problem: Option<String>,
    pub bytes: usize,
}

/// The messages in the DLQ (left in place).
pub async fn dlq_list(app: &App) -> Result<Vec<DlqEntry>, AdminError> {
    let messages = drain(app, &app.resources.ingress_dlq_url).await?;
    let entries = messages
        .iter()
        .map(|m| {
            let body = m.body.as_deref().unwrap_or_default();
            let attr = |name: MessageSystemAttributeName| {
                m.attributes
                    .as_ref()
                    .and_then(|a| a.get(&name))
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            let parsed = WorkItem::parse(body);
            let item = parsed.as_ref().ok();
            DlqEntry {
                message_id: m.message_id.clone().unwrap_or_default(),
                receive_count: u32::try_from(attr(
                    MessageSystemAttributeName::ApproximateReceiveCount,
                ))
                .unwrap_or(u32::MAX),
                sent_at: attr(MessageSystemAttributeName::SentTimestamp) / 1000,
                work_item_id: item.map(|i| i.id.clone()),
                provider: item.map(|i| i.provider.clone()),
                instance_id: item.map(|i| i.instance_id.clone()),
                kind: item.map(|i| i.kind.clone()),
                problem: parsed.as_ref().err().map(ToString::to_string),
                bytes: body.len(),
            }
        })
        .collect();
    release(app, &app.resources.ingress_dlq_url, &messages).await?;
    Ok(entries)
}

/// Moves every DLQ message back to the ingress queue; returns how many moved. Each message is
/// deleted from the DLQ only after the ingress queue accepted it.
pub async fn dlq_redrive(app: &App) -> Result<usize, AdminError> {
    let messages = drain(app, &app.resources.ingress_dlq_url).await?;
    let mut moved = 0;
    for chunk in messages.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, m)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(m.body.clone().unwrap_or_default())
                    .build()
                    .map_err(|e| AdminError::Queue(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let sent = app
            .aws
            .sqs
            .send_message_batch()
            .queue_url(&app.resources.ingress_queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| AdminError::Queue(chain(&e)))?;
        for ok in sent.successful {
            let Some(m) = ok.id.parse::<usize>().ok().and_then(|i| chunk.get(i)) else {
                continue;
            };
            app.aws
                .sqs
                .delete_message()
                .queue_url(&app.resources.ingress_dlq_url)
                .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                .send()
                .await
                .map_err(|e| AdminError::Queue(chain(&e)))?;
            moved += 1;
        }
    }
    tracing::info!(moved, "DLQ redriven to the ingress queue");
    Ok(moved)
}

/// Receives everything currently visible on `queue_url`, hiding it for 30 s.
async fn drain(app: &App, queue_url: &str) -> Result<Vec<aws_sdk_sqs::types::Message>, AdminError> {
    let mut all = Vec::new();
    loop {
        let out = app
            .aws
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| AdminError::Queue(chain(&e)))?;
        let batch = out.messages.unwrap_or_default();
        if batch.is_empty() {
            return Ok(all);
        }
        all.extend(batch);
    }
}

/// Makes messages received by [`drain`] visible again.
async fn release(
    app: &App,
    queue_url: &str,
    messages: &[aws_sdk_sqs::types::Message],
) -> Result<(), AdminError> {
    for m in messages {
        app.aws
            .sqs
            .change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
            .visibility_timeout(0)
            .send()
            .await
            .map_err(|e| AdminError::Queue(chain(&e)))?;
    }
    Ok(())
}

/// An event seen on the operator tap, without its reply credentials or payload.
#[derive(Debug, Clone, Serialize)]
pub struct TappedEvent {
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub agent_id: String,
    pub instance_id: String,
    pub channel: Option<String>,
    pub time: String,
}

/// Takes the events waiting on the operator tap queue (they are removed from the tap).
pub async fn tap_take(
    app: &App,
) -> Result<Vec<(TappedEvent, crate::events::PlatformEvent)>, AdminError> {
    let tap = app
        .resources
        .tap_queue_url
        .clone()
        .ok_or(AdminError::NoTap)?;
    let messages = drain(app, &tap).await?;
    let mut events = Vec::new();
    for m in &messages {
        let envelope: serde_json::Value =
            serde_json::from_str(m.body.as_deref().unwrap_or_default()).unwrap_or_default();
        if let Ok(event) =
            serde_json::from_value::<crate::events::PlatformEvent>(envelope["detail"].clone())
        {
            events.push((
                TappedEvent {
                    event_id: event.event_id.clone(),
                    event_type: event.event_type.clone(),
                    agent_id: event.agent_id.clone(),
                    instance_id: event.source.instance_id.clone(),
                    channel: event.channel.clone(),
                    time: event.time.clone(),
                },
                event,
            ));
        }
        app.aws
            .sqs
            .delete_message()
            .queue_url(&tap)
            .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
            .send()
            .await
            .map_err(|e| AdminError::Queue(chain(&e)))?;
    }
    Ok(events)
}
