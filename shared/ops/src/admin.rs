//! Operator actions behind the `switchyard` CLI: instances, grants, deliveries, the DLQ and the
//! event tap. Output types never carry secret values.

use std::collections::BTreeMap;

use aws_sdk_sqs::types::{MessageSystemAttributeName, SendMessageBatchRequestEntry};
use serde::Serialize;

use switchyard::crypto::CryptoError;
use switchyard::error::chain;
use switchyard::instances::{check_id, Instance, InstanceError};
use switchyard::policy::TriggerPolicy;
use switchyard::secret::SecretString;
use switchyard::workitem::WorkItem;
use switchyard::App;

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
    #[error("{provider} is a webhook endpoint for instances of {serves}: create a {serves} instance (its webhooks are /webhooks/{provider}/<that instance>)")]
    ServedProvider { provider: String, serves: String },
    #[error("no event tap queue is configured (SWITCHYARD_TAP_QUEUE_URL)")]
    NoTap,
    #[error(transparent)]
    Instance(#[from] InstanceError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Deliveries(#[from] switchyard::deliveries::DeliveryError),
    #[error("queue: {0}")]
    Queue(String),
    #[error("audit log: {0}")]
    Audit(String),
    #[error("guardrail: {0}")]
    Guardrail(String),
    #[error("instance {0} has no verification token yet: the provider sends it when the webhook subscription is created")]
    NoVerificationToken(String),
    #[error("instance {0} changed while it was being resealed: run the command again")]
    Changed(String),
    #[error("watches: {0}")]
    Watches(#[from] switchyard::google::watch::WatchOpError),
    #[error(transparent)]
    Settings(#[from] switchyard::settings::SettingsError),
    #[error("nothing to set: give --artifacts-days, --payloads-days or --receipts-days")]
    NothingToSet,
    #[error(transparent)]
    Agents(#[from] switchyard::agents::AgentError),
    #[error(transparent)]
    Receipts(#[from] switchyard::tools::receipts::ReceiptError),
    #[error(transparent)]
    Messages(#[from] switchyard::messages::MessageLogError),
    #[error("no receipt {0}")]
    NoReceipt(String),
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
    if def.instance_provider() != def.id {
        return Err(AdminError::ServedProvider {
            provider: def.id.clone(),
            serves: def.instance_provider().to_owned(),
        });
    }
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
        Some(app.keyring.seal(provider, id, &secrets).await?)
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
    audit(
        app,
        id,
        "instance_created",
        &format!("provider {provider}, workspace {workspace}"),
    )
    .await?;
    if !instance.secret_keys.is_empty() {
        // Names of the keys only, never their values.
        let detail = format!("set {}", instance.secret_keys.join(", "));
        audit(app, id, "secret_update", &detail).await?;
    }
    Ok(instance)
}

/// Seals again, with the provider in the KMS encryption context, the secrets of `only` (or of
/// every instance) that were sealed before the provider binding: the functions' IAM policies
/// require the provider, so until then only the operator can open them. Returns the ids
/// resealed; instances already bound are left as they are. Audited per instance.
pub async fn reseal(app: &App, only: Option<&str>) -> Result<Vec<String>, AdminError> {
    let instances = match only {
        Some(id) => vec![app
            .instances
            .get(id)
            .await?
            .ok_or_else(|| InstanceError::NotFound(id.to_owned()))?],
        None => app.instances.list().await?,
    };
    let mut resealed = Vec::new();
    for instance in instances {
        let Some(sealed) = instance.sealed.as_ref().filter(|s| s.is_legacy()) else {
            continue;
        };
        let secrets = app.keyring.open(&instance.id, sealed).await?;
        let bound = app
            .keyring
            .seal(&instance.provider, &instance.id, &secrets)
            .await?;
        let keys: Vec<String> = secrets.into_keys().collect();
        let written = app
            .instances
            .set_secrets(
                &instance.id,
                &bound,
                &keys,
                instance.updated_at,
                app.clock.now(),
            )
            .await?;
        if !written {
            return Err(AdminError::Changed(instance.id));
        }
        audit(
            app,
            &instance.id,
            "secret_resealed",
            &format!("provider {} bound into the KMS context", instance.provider),
        )
        .await?;
        resealed.push(instance.id);
    }
    Ok(resealed)
}

/// The verification token a provider sent to `instance` (Notion's handshake), for the operator
/// to paste into the provider's console. The reveal is audited.
pub async fn reveal_verification_token(
    app: &App,
    instance: &Instance,
) -> Result<SecretString, AdminError> {
    const FIELD: &str = "verification_token";
    let sealed = instance
        .sealed
        .as_ref()
        .filter(|_| instance.secret_keys.iter().any(|k| k == FIELD))
        .ok_or_else(|| AdminError::NoVerificationToken(instance.id.clone()))?;
    let mut secrets = app.keyring.open(&instance.id, sealed).await?;
    let token = secrets
        .remove(FIELD)
        .ok_or_else(|| AdminError::NoVerificationToken(instance.id.clone()))?;
    audit(
        app,
        &instance.id,
        "verification_token_revealed",
        "shown to the operator",
    )
    .await?;
    Ok(token)
}

async fn audit(app: &App, instance_id: &str, action: &str, detail: &str) -> Result<(), AdminError> {
    app.audit
        .record(
            &format!("instance#{instance_id}"),
            &app.actor,
            action,
            detail,
            app.clock.now(),
        )
        .await
        .map_err(|e| AdminError::Audit(e.to_string()))
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
    // After the grant: an index entry without its grant offers nothing (discovery checks the
    // instance), a grant without its entry would be invisible to discovery.
    app.tools().agents.index_grant(agent, id).await?;
    tracing::info!(instance_id = id, agent, "grant written");
    let detail = format!(
        "{agent}: {}",
        serde_json::to_string(policy).unwrap_or_default()
    );
    audit(app, id, "grant", &detail).await
}

/// Withdraws `agent`'s grant on `id`.
pub async fn revoke_grant(app: &App, id: &str, agent: &str) -> Result<(), AdminError> {
    app.instances.revoke(id, agent, app.clock.now()).await?;
    app.tools().agents.unindex_grant(agent, id).await?;
    audit(app, id, "grant_revoked", agent).await
}

/// Deletes the instance `id`; `Ok(false)` if it did not exist.
pub async fn delete_instance(app: &App, id: &str) -> Result<bool, AdminError> {
    // Push subscriptions first, while the instance's credentials still work.
    crate::google::stop_watches(app, id).await?;
    let grantees: Vec<String> = match app.instances.get(id).await? {
        Some(instance) => instance.grants.into_keys().collect(),
        None => Vec::new(),
    };
    let deleted = app.instances.delete(id).await?;
    for agent in grantees {
        app.tools().agents.unindex_grant(&agent, id).await?;
    }
    if deleted {
        audit(app, id, "instance_deleted", "").await?;
    }
    Ok(deleted)
}

/// A change to an instance's guardrails.
#[derive(Debug, Clone, Default)]
pub struct GuardrailChange {
    pub tool: Option<String>,
    pub field: Option<String>,
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    pub allow_tools: Vec<String>,
    pub deny_tools: Vec<String>,
}

/// Applies `change` to the instance's guardrails; returns the new guardrails.
pub async fn set_guardrails(
    app: &App,
    id: &str,
    change: GuardrailChange,
) -> Result<switchyard::tools::guardrails::Guardrails, AdminError> {
    use switchyard::tools::guardrails::{Guardrails, Lists, CONFIG_KEY};
    let instance = app
        .instances
        .get(id)
        .await?
        .ok_or_else(|| InstanceError::NotFound(id.to_owned()))?;
    let mut guardrails = Guardrails::of(&instance).unwrap_or_default();
    match (change.tool, change.field) {
        (Some(tool), Some(field)) => {
            let method = app
                .tools()
                .catalog()
                .map_err(|e| AdminError::Guardrail(e.to_string()))?
                .method(&tool)
                .ok_or_else(|| AdminError::Guardrail(format!("no tool {tool}")))?;
            if !method.def.exec.guardrails.contains(&field) {
                return Err(AdminError::Guardrail(format!(
                    "{tool} guards {:?}, not {field}",
                    method.def.exec.guardrails
                )));
            }
            guardrails.set_field(
                &tool,
                &field,
                Lists {
                    allow: change.allow,
                    deny: change.deny,
                },
            );
        }
        (None, None) => {}
        _ => {
            return Err(AdminError::Guardrail(
                "--tool and --field go together".into(),
            ))
        }
    }
    if !change.allow_tools.is_empty() {
        guardrails.tools.allow = change.allow_tools;
    }
    if !change.deny_tools.is_empty() {
        guardrails.tools.deny = change.deny_tools;
    }
    let text =
        serde_json::to_string(&guardrails).map_err(|e| AdminError::Guardrail(e.to_string()))?;
    app.instances
        .set_config(id, CONFIG_KEY, &text, app.clock.now())
        .await?;
    audit(app, id, "guardrails", &text).await?;
    Ok(guardrails)
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
    dlq_redrive_with_progress(app, &mut |_, _| {}).await
}

/// [`dlq_redrive`], telling `progress` (moved, total) after each batch.
pub async fn dlq_redrive_with_progress(
    app: &App,
    progress: &mut (dyn FnMut(usize, usize) + Send),
) -> Result<usize, AdminError> {
    let messages = drain(app, &app.resources.ingress_dlq_url).await?;
    let mut moved = 0;
    progress(0, messages.len());
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
            .sqs()
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
                .sqs()
                .delete_message()
                .queue_url(&app.resources.ingress_dlq_url)
                .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                .send()
                .await
                .map_err(|e| AdminError::Queue(chain(&e)))?;
            moved += 1;
        }
        progress(moved, messages.len());
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
            .sqs()
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
            .sqs()
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

/// An event seen on the operator tap. `detail` is the whole event as published (it can hold
/// reply credentials such as Discord interaction tokens: the CLI prints it only with `--full`).
#[derive(Debug, Clone, Serialize)]
pub struct TappedEvent {
    pub source: String,
    #[serde(rename = "type")]
    pub detail_type: String,
    pub event_id: String,
    pub agent_id: Option<String>,
    pub instance_id: Option<String>,
    pub channel: Option<String>,
    pub time: String,
    #[serde(skip)]
    pub detail: serde_json::Value,
}

/// Takes the events waiting on the operator tap queue (they are removed from the tap).
pub async fn tap_take(app: &App) -> Result<Vec<TappedEvent>, AdminError> {
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
        let detail = envelope["detail"].clone();
        let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
        events.push(TappedEvent {
            source: text(&envelope["source"]).unwrap_or_default(),
            detail_type: text(&envelope["detail-type"]).unwrap_or_default(),
            event_id: text(&detail["event_id"]).unwrap_or_default(),
            agent_id: text(&detail["agent_id"]),
            instance_id: text(&detail["source"]["instance_id"]),
            channel: text(&detail["channel"]),
            time: text(&detail["time"]).unwrap_or_default(),
            detail,
        });
        app.aws
            .sqs()
            .delete_message()
            .queue_url(&tap)
            .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
            .send()
            .await
            .map_err(|e| AdminError::Queue(chain(&e)))?;
    }
    Ok(events)
}

/// Sets `workspace`'s retention windows (`changes`: kind and days, each checked) and audits the
/// change on `workspace#<workspace>`. Returns the windows now in force.
pub async fn set_retention(
    app: &App,
    workspace: &str,
    changes: &[(switchyard::settings::Kind, u64)],
) -> Result<switchyard::settings::Retention, AdminError> {
    if changes.is_empty() {
        return Err(AdminError::NothingToSet);
    }
    let now = app.clock.now();
    let retention = app
        .retention()
        .settings
        .set_retention(workspace, changes, now)
        .await?;
    let detail = changes
        .iter()
        .map(|(kind, days)| format!("{}={days}d", kind.name()))
        .collect::<Vec<_>>()
        .join(" ");
    app.audit
        .record(
            &format!("workspace#{workspace}"),
            &app.actor,
            "retention_set",
            &detail,
            now,
        )
        .await
        .map_err(|e| AdminError::Audit(e.to_string()))?;
    Ok(retention)
}

/// A receipt with, for each message it sent, the statuses providers reported since
/// (`deliveries`: `{message, statuses: [{recipient, status, at}]}`), for `receipts show`.
pub async fn receipt_with_deliveries(app: &App, id: &str) -> Result<serde_json::Value, AdminError> {
    let tools = app.tools();
    let receipt = tools
        .receipts
        .get(id)
        .await?
        .ok_or_else(|| AdminError::NoReceipt(id.to_owned()))?;
    let mut deliveries = Vec::new();
    for message in &receipt.message_ids {
        let Some((service, message_id)) = message.split_once(':') else {
            continue;
        };
        let statuses = tools.messages.statuses(service, message_id).await?;
        deliveries.push(serde_json::json!({
            "message": message,
            "statuses": statuses.unwrap_or_default(),
        }));
    }
    let mut shown = serde_json::to_value(&receipt).unwrap_or_default();
    shown["deliveries"] = serde_json::Value::Array(deliveries);
    Ok(shown)
}
