//! Approval gates: an instance may require a person's approval for some methods
//! (`approval_required`). A gated call is stored, not run, and answered `approval_required` with
//! the approval's id and expiry. An approver decides with `switchyard approval approve|deny`, or
//! with the buttons of a message the gate posts through a chat instance
//! (`approval_slack_instance` + `approval_channel`; the provider's plug-in builds the message and
//! reads the click). An approved call runs once, through the pipeline under its idempotency key,
//! in the media worker; the agent gets `integration.approval_resolved` (approved with the result
//! receipt, denied, or expired). A denied or expired call never runs. Every step is audited.
//!
//! Instance config (strings):
//! - `approval_required`: comma-separated tool ids, and/or `destructive` (every method whose
//!   definition is marked `destructive`);
//! - `approval_ttl_secs`: how long an approval stays open (default one hour);
//! - `approval_slack_instance`, `approval_channel`: where to ask, if anywhere.

use serde_json::{json, Value};
use switchyard_aws::approvals::{Approval, ApprovalStatus};
use switchyard_aws::deferred::{DeferredMessage, RecordError};
use switchyard_providers::plugin::{ApprovalDecision, ApprovalRequest};
use tokio::time::Instant;

use crate::deferred::{self, Handled};
use crate::definitions::Method;
use crate::error::PendingApproval;
use crate::instances::Instance;
use crate::{ErrorCode, ToolError, ToolRequest, ToolResponse, Tools};

/// How long an approval stays open unless the instance says otherwise.
pub const DEFAULT_TTL_SECS: u64 = 3600;

/// The caller the gate posts approval messages as.
const CALLER: &str = "system:approvals";

/// Why a decision or a run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("no approval {0}")]
    NotFound(String),
    #[error("approval {id} expired at {expires_at}: the call will not run")]
    Expired { id: String, expires_at: u64 },
    #[error("approval {id} is already {status}")]
    AlreadyDecided { id: String, status: &'static str },
    #[error(
        "approval {id} belongs to instance {instance}, whose approvals are not asked through {via}"
    )]
    WrongApprover {
        id: String,
        instance: String,
        via: String,
    },
    #[error(transparent)]
    Store(#[from] RecordError),
}

/// An instance's approval settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApprovalPolicy {
    tools: Vec<String>,
    destructive: bool,
    pub ttl_secs: u64,
    /// The chat instance and channel approvers are asked in.
    pub ask: Option<(String, String)>,
}

impl ApprovalPolicy {
    pub fn of(instance: &Instance) -> Self {
        let config = &instance.config;
        let mut policy = Self {
            ttl_secs: config
                .get("approval_ttl_secs")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(DEFAULT_TTL_SECS),
            ..Self::default()
        };
        for entry in config
            .get("approval_required")
            .map(String::as_str)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            if entry == "destructive" {
                policy.destructive = true;
            } else {
                policy.tools.push(entry.to_owned());
            }
        }
        if let (Some(chat), Some(channel)) = (
            config.get("approval_slack_instance"),
            config.get("approval_channel"),
        ) {
            policy.ask = Some((chat.clone(), channel.clone()));
        }
        policy
    }

    /// Whether calls of `method` wait for approval.
    pub fn gates(&self, method: &Method) -> bool {
        self.tools.contains(&method.tool_id) || (self.destructive && method.destructive())
    }
}

fn required(approval: &Approval) -> ToolResponse {
    crate::fail(ToolError {
        approval: Some(Box::new(PendingApproval {
            approval_id: approval.id.clone(),
            expires_at: approval.expires_at,
        })),
        ..ToolError::new(
            ErrorCode::ApprovalRequired,
            format!(
                "{} on this instance needs a human's approval; approval {} is open until {} (unix seconds). The call runs once approved; the outcome arrives as integration.approval_resolved",
                approval.tool, approval.id, approval.expires_at
            ),
            false,
        )
    })
}

/// Holds a gated call for approval; `None`: the call is not gated (or was approved: the
/// pipeline runs it, and its idempotency key keeps it to once).
pub(crate) async fn gate(
    app: &Tools,
    method: &Method,
    instance: &Instance,
    request: &ToolRequest,
    user: Option<&str>,
) -> Option<ToolResponse> {
    let policy = ApprovalPolicy::of(instance);
    if !policy.gates(method) {
        return None;
    }
    let (id, _) = deferred::record_id("apr", instance, &method.tool_id, request);
    let now = app.clock.now();
    let approval = Approval {
        idempotency_key: request
            .idempotency_key
            .clone()
            .unwrap_or_else(|| format!("approval:{id}")),
        id,
        status: ApprovalStatus::Pending,
        tool: method.tool_id.clone(),
        instance_id: instance.id.clone(),
        workspace: instance.workspace.clone(),
        agent_id: request.agent_id.clone(),
        user: user.map(str::to_owned),
        input: request.input.clone(),
        trace_id: request.trace_id.clone(),
        created_at: now,
        expires_at: now + policy.ttl_secs,
        decided_by: None,
        decided_at: None,
        result_receipt_id: None,
        result: None,
        executed_at: None,
    };
    match app.approvals.create(&approval).await {
        Ok(true) => {}
        Ok(false) => return retried(app, &approval).await,
        Err(e) => return Some(deferred::unavailable(&e)),
    }
    audit(
        app,
        &approval,
        "approval_requested",
        &format!("{} by agent {}", approval.tool, approval.agent_id),
    )
    .await;
    if let Some((chat, channel)) = &policy.ask {
        // A credential among the arguments (a Discord interaction token) is not shown in chat.
        let mut shown = approval.input.clone();
        if let Some(fields) = shown.as_object_mut() {
            for name in &method.def.exec.secret_params {
                if let Some(value) = fields.get_mut(name) {
                    *value = Value::String("[redacted]".into());
                }
            }
        }
        ask(app, &approval, &shown, chat, channel).await;
    }
    Some(required(&approval))
}

/// The answer to a retry of a gated call (same idempotency key): the same open approval, the
/// pipeline once approved (the key replays or runs it once), or the decision.
async fn retried(app: &Tools, fresh: &Approval) -> Option<ToolResponse> {
    let stored = match app.approvals.get(&fresh.id).await {
        Ok(Some(stored)) => stored,
        Ok(None) => {
            return Some(deferred::unavailable(&RecordError::Unavailable(
                "approval vanished".into(),
            )))
        }
        Err(e) => return Some(deferred::unavailable(&e)),
    };
    if stored.input != fresh.input || stored.tool != fresh.tool {
        return Some(deferred::conflict(&stored.id));
    }
    let now = app.clock.now();
    match stored.status {
        ApprovalStatus::Pending if !stored.is_past(now) => Some(required(&stored)),
        ApprovalStatus::Approved | ApprovalStatus::Executing | ApprovalStatus::Executed => None,
        status => Some(crate::fail(ToolError::new(
            ErrorCode::Denied,
            format!(
                "approval {} of this call is {}: it will not run; ask again with a new idempotency key",
                stored.id,
                if status == ApprovalStatus::Pending { "expired" } else { status.as_str() }
            ),
            false,
        ))),
    }
}

/// Posts the approval message through the chat instance `chat`, whose provider's plug-in
/// builds it. A failure leaves the approval open (the CLI can still decide it) and is logged.
async fn ask(app: &Tools, approval: &Approval, shown: &Value, chat: &str, channel: &str) {
    let instance = match app.instances.get(chat).await {
        Ok(Some(i)) if i.workspace == approval.workspace => i,
        _ => {
            tracing::error!(approval = %approval.id, chat, "approval_slack_instance is not an instance of this workspace");
            return;
        }
    };
    let Some(plugin) = app.registry.plugin(&instance.provider) else {
        tracing::error!(approval = %approval.id, provider = %instance.provider, "the approving instance's provider cannot ask");
        return;
    };
    let request = ApprovalRequest {
        approval_id: &approval.id,
        tool: &approval.tool,
        instance_id: &approval.instance_id,
        agent_id: &approval.agent_id,
        user: approval.user.as_deref(),
        arguments: shown,
        expires_at: approval.expires_at,
        channel,
    };
    let Some((tool, input)) = plugin.approval_message(&request) else {
        tracing::error!(approval = %approval.id, provider = %instance.provider, "the approving instance's provider cannot ask");
        return;
    };
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    let posted = crate::call_for_worker(app, &tool, &instance, CALLER, input, deadline).await;
    if let Some(e) = posted.error() {
        tracing::error!(approval = %approval.id, code = %e.code, "could not post the approval message");
    }
}

async fn audit(app: &Tools, approval: &Approval, action: &str, detail: &str) {
    let target = format!("instance#{}", approval.instance_id);
    let detail = format!("{}: {detail}", approval.id);
    if let Err(e) = app
        .audit
        .record(&target, &app.actor, action, &detail, app.clock.now())
        .await
    {
        tracing::error!(approval = %approval.id, error = %e, "could not audit an approval step");
    }
}

/// Tells the agent how its gated call was resolved.
async fn resolved(app: &Tools, approval: &Approval) {
    let instance = match app.instances.get(&approval.instance_id).await {
        Ok(Some(i)) => i,
        _ => {
            tracing::error!(approval = %approval.id, "the approval's instance is gone: no event");
            return;
        }
    };
    let payload = json!({
        "approval_id": approval.id,
        "tool": approval.tool,
        "status": approval.status.as_str(),
        "decided_by": approval.decided_by,
        "result": approval.result,
        "receipt_id": approval.result_receipt_id,
        "idempotency_key": approval.idempotency_key,
    });
    if let Err(e) = deferred::notify(
        app,
        &instance,
        &approval.agent_id,
        &approval.id,
        "integration.approval_resolved",
        payload,
    )
    .await
    {
        tracing::error!(approval = %approval.id, error = %e, "could not publish the resolution");
    }
}

/// Reads approval `id`, recording it expired (and telling the agent) when it is pending past
/// its expiry: what every read that acts on an approval goes through.
pub async fn current(app: &Tools, id: &str) -> Result<Approval, ApprovalError> {
    let approval = app
        .approvals
        .get(id)
        .await?
        .ok_or_else(|| ApprovalError::NotFound(id.to_owned()))?;
    let now = app.clock.now();
    if approval.status != ApprovalStatus::Pending || !approval.is_past(now) {
        return Ok(approval);
    }
    let mut expired = approval.clone();
    expired.status = ApprovalStatus::Expired;
    expired.decided_at = Some(now);
    if app
        .approvals
        .replace(&expired, ApprovalStatus::Pending.as_str())
        .await?
    {
        audit(
            app,
            &expired,
            "approval_expired",
            "expired before a decision",
        )
        .await;
        resolved(app, &expired).await;
        return Ok(expired);
    }
    // Decided or expired by another reader meanwhile.
    app.approvals
        .get(id)
        .await?
        .ok_or_else(|| ApprovalError::NotFound(id.to_owned()))
}

/// Decides approval `id`: `approve` queues the call for the media worker, a denial tells the
/// agent. `by` is who decided (`cli:<name>`, `slack:<team>/<user>`). Approving an expired or
/// decided approval fails and changes nothing.
pub async fn decide(
    app: &Tools,
    id: &str,
    approve: bool,
    by: &str,
) -> Result<Approval, ApprovalError> {
    let approval = current(app, id).await?;
    match approval.status {
        ApprovalStatus::Pending => {}
        ApprovalStatus::Expired => {
            return Err(ApprovalError::Expired {
                id: id.to_owned(),
                expires_at: approval.expires_at,
            })
        }
        status => {
            return Err(ApprovalError::AlreadyDecided {
                id: id.to_owned(),
                status: status.as_str(),
            })
        }
    }
    let mut decided = approval.clone();
    decided.status = if approve {
        ApprovalStatus::Approved
    } else {
        ApprovalStatus::Denied
    };
    decided.decided_by = Some(by.to_owned());
    decided.decided_at = Some(app.clock.now());
    if !app
        .approvals
        .replace(&decided, ApprovalStatus::Pending.as_str())
        .await?
    {
        let now = current(app, id).await?;
        return Err(ApprovalError::AlreadyDecided {
            id: id.to_owned(),
            status: now.status.as_str(),
        });
    }
    let action = if approve {
        "approval_approved"
    } else {
        "approval_denied"
    };
    audit(app, &decided, action, &format!("by {by}")).await;
    if approve {
        // Queued rather than run here: the worker holds the tool's permissions, and a lost
        // message is redriven (the approval stays `approved` until a runner takes it).
        app.jobs_queue
            .send(&DeferredMessage::Approval { id: id.to_owned() })
            .await?;
    } else {
        resolved(app, &decided).await;
    }
    Ok(decided)
}

/// A decision read from a verified chat delivery on instance `via`: honoured only when `via` is
/// the instance the approval's own instance asks through (the chat team was already held to
/// that instance's by the webhook's tenant check).
pub async fn decide_from_chat(
    app: &Tools,
    via: &str,
    decision: &ApprovalDecision,
) -> Result<Approval, ApprovalError> {
    let approval = current(app, &decision.approval_id).await?;
    let gated = app
        .instances
        .get(&approval.instance_id)
        .await
        .map_err(|e| RecordError::Unavailable(e.to_string()))?;
    let asks_through = gated
        .as_ref()
        .and_then(|i| ApprovalPolicy::of(i).ask)
        .map(|(chat, _)| chat);
    if asks_through.as_deref() != Some(via) {
        return Err(ApprovalError::WrongApprover {
            id: approval.id,
            instance: approval.instance_id,
            via: via.to_owned(),
        });
    }
    decide(
        app,
        &decision.approval_id,
        decision.approve,
        &decision.approver,
    )
    .await
}

/// The worker's side of a chat decision: a refused one (wrong instance, expired, decided) is
/// logged and done; a store failure is retried.
pub(crate) async fn decided_in_chat(
    app: &Tools,
    via: &str,
    decision: &ApprovalDecision,
) -> Handled {
    match decide_from_chat(app, via, decision).await {
        Ok(approval) => {
            tracing::info!(approval = %approval.id, status = approval.status.as_str(), by = %decision.approver, "approval decided in chat");
            Handled::Done
        }
        Err(ApprovalError::Store(e)) => {
            tracing::warn!(approval = %decision.approval_id, error = %e, "could not decide now; retried");
            Handled::Retry
        }
        Err(e) => {
            tracing::warn!(approval = %decision.approval_id, error = %e, "chat decision refused");
            Handled::Done
        }
    }
}

/// Runs approved call `id` once (the media worker): `approved → executing` is conditional, and
/// the call runs under the approval's idempotency key, so two runners (or a redelivery after a
/// crash mid-run) reach the provider once.
pub(crate) async fn execute(app: &Tools, id: &str, deadline: Instant) -> Handled {
    let approval = match current(app, id).await {
        Ok(a) => a,
        Err(ApprovalError::NotFound(_)) => {
            tracing::error!(approval = id, "queued approval has no record; dropped");
            return Handled::Done;
        }
        Err(e) => {
            tracing::warn!(approval = id, error = %e, "approval unreadable now; retried");
            return Handled::Retry;
        }
    };
    let running = match approval.status {
        ApprovalStatus::Approved => {
            let mut executing = approval.clone();
            executing.status = ApprovalStatus::Executing;
            match app
                .approvals
                .replace(&executing, ApprovalStatus::Approved.as_str())
                .await
            {
                Ok(true) => executing,
                // Another runner took it.
                Ok(false) => return Handled::Done,
                Err(e) => {
                    tracing::warn!(approval = id, error = %e, "could not take the approval; retried");
                    return Handled::Retry;
                }
            }
        }
        // A runner stopped mid-call: the key replays its answer or runs it once.
        ApprovalStatus::Executing => approval,
        _ => return Handled::Done,
    };
    let request = ToolRequest {
        instance_id: running.instance_id.clone(),
        agent_id: running.agent_id.clone(),
        input: running.input.clone(),
        idempotency_key: Some(running.idempotency_key.clone()),
        trace_id: running.trace_id.clone(),
        // invoke_resumed sets the user the call was made for.
        on_behalf_of: None,
    };
    let response = crate::invoke_resumed(
        app,
        &running.tool,
        request,
        deadline,
        running.user.as_deref(),
    )
    .await;
    if let Some(error) = response.error() {
        if error.code == ErrorCode::InProgress || error.retryable {
            return Handled::Retry;
        }
    }
    let mut executed = running;
    executed.status = ApprovalStatus::Executed;
    executed.executed_at = Some(app.clock.now());
    match &response {
        ToolResponse::Ok { receipt_id, .. } => {
            executed.result = Some("ok".into());
            executed.result_receipt_id = Some(receipt_id.clone());
        }
        ToolResponse::Err {
            error, receipt_id, ..
        } => {
            executed.result = Some(error.code.as_str().to_owned());
            executed.result_receipt_id.clone_from(receipt_id);
        }
    }
    match app
        .approvals
        .replace(&executed, ApprovalStatus::Executing.as_str())
        .await
    {
        Ok(true) => {}
        Ok(false) => return Handled::Done,
        Err(e) => {
            tracing::warn!(approval = id, error = %e, "could not record the run; retried");
            return Handled::Retry;
        }
    }
    audit(
        app,
        &executed,
        "approval_executed",
        &format!("result {}", executed.result.as_deref().unwrap_or_default()),
    )
    .await;
    resolved(app, &executed).await;
    Handled::Done
}

/// An approval as the CLI shows it: every field, the full arguments included.
pub fn describe(approval: &Approval) -> Value {
    serde_json::to_value(approval).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::Catalog;

    fn instance(config: &[(&str, &str)]) -> Instance {
        Instance {
            id: "i".into(),
            provider: "google".into(),
            workspace: "acme".into(),
            config: config
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            secret_keys: vec![],
            sealed: None,
            grants: Default::default(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn destructive_methods_are_gated_when_the_instance_asks_for_them() {
        let catalog = Catalog::load().expect("catalog");
        let delete = catalog.method("calendar.delete_event").expect("delete");
        let list = catalog.method("calendar.list_events").expect("list");
        assert!(delete.destructive());
        let none = ApprovalPolicy::of(&instance(&[]));
        assert!(!none.gates(delete) && !none.gates(list));
        let destructive = ApprovalPolicy::of(&instance(&[("approval_required", "destructive")]));
        assert!(destructive.gates(delete) && !destructive.gates(list));
        let named = ApprovalPolicy::of(&instance(&[
            ("approval_required", " calendar.list_events ,"),
            ("approval_ttl_secs", "60"),
            ("approval_slack_instance", "acme-slack"),
            ("approval_channel", "C1"),
        ]));
        assert!(named.gates(list) && !named.gates(delete));
        assert_eq!(named.ttl_secs, 60);
        assert_eq!(named.ask, Some(("acme-slack".into(), "C1".into())));
        assert_eq!(
            ApprovalPolicy::of(&instance(&[])).ttl_secs,
            DEFAULT_TTL_SECS
        );
    }
}
