//! The intents worker: invoked by an intent's schedule with [`WorkerInput`], it claims the
//! occurrence, runs the tool call through the normal pipeline as the agent that asked, and
//! records the outcome.
//!
//! - Claim: `scheduled → running`, conditional on the status and the occurrence read, and only
//!   for an occurrence later than the last one claimed. A second delivery of the same occurrence
//!   (the scheduler invokes at least once) finds it claimed or finished and runs nothing.
//! - Run: [`crate::invoke_as`] with the stored principal (workspace, grant, guardrails,
//!   approvals, breakers, receipts all apply), under the idempotency key
//!   `intent:<id>:<occurrence>`: a delivery racing a crashed run replays the provider's answer
//!   instead of calling it again.
//! - Outcome: `succeeded` with the receipt id (a cron intent goes back to `scheduled`). A
//!   retryable failure schedules a one-off retry after exponential backoff
//!   ([`BACKOFF_BASE_SECS`] × 2^(attempt−1)) up to [`MAX_ATTEMPTS`] runs; then, or at once for a
//!   failure that cannot pass, the intent is `failed` and the agent gets `integration.error`.
//!   An `approval_required` answer ends the run `failed` with the approval's id: the approval
//!   carries the call from there (it runs once approved, and the agent hears
//!   `integration.approval_resolved`), so the intent does not run it a second time.

use sha2::{Digest, Sha256};
use switchyard_aws::events::{IntegrationEvent, Source, PLATFORM_EVENT_VERSION};
use switchyard_aws::intents::{Intent, IntentStatus, WorkerInput};
use switchyard_core::clock::rfc3339;
use switchyard_core::identity::{AuthMethod, Principal};
use tokio::time::Instant;

use crate::{ErrorCode, ToolRequest, ToolResponse, Tools};

/// Runs of one occurrence at most (the first and two retries).
pub const MAX_ATTEMPTS: u32 = 3;
/// The first retry's delay; each further one doubles it.
pub const BACKOFF_BASE_SECS: u64 = 60;

/// What one invocation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The call ran and the intent is now in this status.
    Ran(IntentStatus),
    /// Nothing ran: the reason (a duplicate delivery, a cancelled intent, another runner).
    Skipped(&'static str),
    /// The intents store or scheduler failed: the invocation fails, and the scheduler's retry
    /// policy invokes again (the claim keeps that to one run).
    Failed(String),
}

/// The delay before retry number `attempt` (the first run is attempt 1).
pub fn backoff(attempt: u32) -> u64 {
    BACKOFF_BASE_SECS << attempt.saturating_sub(1).min(16)
}

/// Handles one invocation, bounded by `deadline`.
pub async fn run(app: &Tools, input: &WorkerInput, deadline: Instant) -> Outcome {
    let Some(occurrence) = super::parse_time(&input.scheduled_time) else {
        tracing::error!(intent = %input.intent_id, time = %input.scheduled_time, "the invocation has no scheduled time; dropped");
        return Outcome::Skipped("no scheduled time");
    };
    let intent = match app.intents.get(&input.agent_id, &input.intent_id).await {
        Ok(Some(intent)) => intent,
        Ok(None) => return Outcome::Skipped("no such intent"),
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let claimed = match (intent.status, occurrence.cmp(&intent.occurrence)) {
        (IntentStatus::Scheduled, std::cmp::Ordering::Greater) => {
            let mut running = intent.clone();
            running.status = IntentStatus::Running;
            running.attempts = if intent.next_attempt_at == Some(occurrence) {
                intent.attempts + 1
            } else {
                // A new cron occurrence, or a one-off fired off its recorded time.
                1
            };
            running.occurrence = occurrence;
            running.updated_at = app.clock.now();
            match app
                .intents
                .replace(&running, (intent.status, intent.occurrence))
                .await
            {
                Ok(true) => running,
                Ok(false) => return Outcome::Skipped("claimed by another delivery"),
                Err(e) => return Outcome::Failed(e.to_string()),
            }
        }
        // A delivery of the occurrence in flight (or of one whose runner stopped): run again
        // under the same idempotency key, which replays a finished provider call.
        (IntentStatus::Running, std::cmp::Ordering::Equal) => intent,
        (IntentStatus::Scheduled | IntentStatus::Running, _) => {
            return Outcome::Skipped("occurrence already run")
        }
        _ => return Outcome::Skipped("the intent has ended"),
    };
    let principal = Principal {
        agent_id: claimed.agent_id.clone(),
        workspace: claimed.workspace.clone(),
        user: claimed.user.clone(),
        method: AuthMethod::AgentToken,
    };
    let request = ToolRequest {
        instance_id: claimed.instance_id.clone(),
        agent_id: claimed.agent_id.clone(),
        input: claimed.input.clone(),
        idempotency_key: Some(format!("intent:{}:{}", claimed.id, occurrence)),
        trace_id: Some(claimed.id.clone()),
        on_behalf_of: None,
    };
    let response = crate::invoke_as(app, &principal, &claimed.tool, request, deadline).await;
    if response
        .error()
        .is_some_and(|e| e.code == ErrorCode::InProgress)
    {
        // Another delivery is running this occurrence: it records the outcome.
        return Outcome::Skipped("in progress elsewhere");
    }
    finish(app, claimed, response).await
}

/// Records the outcome of a claimed run, schedules its retry or tells the agent it failed.
async fn finish(app: &Tools, claimed: Intent, response: ToolResponse) -> Outcome {
    let now = app.clock.now();
    let mut done = claimed.clone();
    done.updated_at = now;
    done.next_attempt_at = None;
    // The one-off that fired is gone (deleted after completion); a cron schedule stays.
    done.schedules.retain(|s| s.ends_with("-cron"));
    let recurring = claimed.cron.is_some();
    let mut tell_agent = false;
    match &response {
        ToolResponse::Ok { receipt_id, .. } => {
            done.status = if recurring {
                IntentStatus::Scheduled
            } else {
                IntentStatus::Succeeded
            };
            done.last_receipt_id = Some(receipt_id.clone());
            done.last_error_code = None;
            done.last_error_message = None;
        }
        ToolResponse::Err {
            error, receipt_id, ..
        } => {
            done.last_receipt_id.clone_from(receipt_id);
            done.last_error_code = Some(error.code.as_str().to_owned());
            done.last_error_message = Some(error.message.clone());
            done.approval_id = error.approval.as_ref().map(|a| a.approval_id.clone());
            let ended = if recurring {
                IntentStatus::Scheduled
            } else {
                IntentStatus::Failed
            };
            if error.retryable && claimed.attempts < MAX_ATTEMPTS {
                let at = now + backoff(claimed.attempts);
                match super::schedule_at(app, &claimed, at).await {
                    Ok(name) => {
                        done.status = IntentStatus::Scheduled;
                        done.next_attempt_at = Some(at);
                        done.schedules.push(name);
                    }
                    Err(e) => {
                        tracing::error!(intent = %claimed.id, error = %e, "could not schedule a retry");
                        done.status = ended;
                        tell_agent = true;
                    }
                }
            } else {
                done.status = ended;
                tell_agent = error.code != ErrorCode::ApprovalRequired;
            }
        }
    }
    match app
        .intents
        .replace(&done, (IntentStatus::Running, claimed.occurrence))
        .await
    {
        Ok(true) => {}
        // Cancelled meanwhile, or recorded by another delivery.
        Ok(false) => return Outcome::Skipped("changed while running"),
        Err(e) => return Outcome::Failed(e.to_string()),
    }
    if tell_agent {
        failed_event(app, &done).await;
    }
    Outcome::Ran(done.status)
}

/// `integration.error` for the agent: the intent's occurrence failed for good. The event id is
/// derived from the intent and occurrence, so a republish is the same event.
async fn failed_event(app: &Tools, intent: &Intent) {
    let instance = match app.instances.get(&intent.instance_id).await {
        Ok(Some(i)) => i,
        _ => {
            tracing::error!(intent = %intent.id, "the intent's instance is gone: no event");
            return;
        }
    };
    let mut h = Sha256::new();
    h.update(intent.id.as_bytes());
    h.update(intent.occurrence.to_be_bytes());
    let event = IntegrationEvent {
        schema_version: PLATFORM_EVENT_VERSION,
        event_id: format!("ievt_{}", &hex::encode(h.finalize())[..32]),
        event_type: "integration.error".into(),
        time: rfc3339(app.clock.now()),
        source: Source {
            provider: instance.provider.clone(),
            instance_id: instance.id.clone(),
            workspace: instance.workspace.clone(),
        },
        connection_id: String::new(),
        account_id: None,
        reason: "intent_failed".into(),
        detail: format!(
            "intent {} ({}) failed after {} attempt(s): {}",
            intent.id,
            intent.tool,
            intent.attempts,
            intent.last_error_code.as_deref().unwrap_or("unknown"),
        ),
        agent_id: Some(intent.agent_id.clone()),
        tool_call: None,
    };
    if let Err(e) = app.sink.publish_integration(&event).await {
        // The outcome is recorded; `GET /intents/{id}` has it even if the event is lost.
        tracing::error!(intent = %intent.id, error = %e, "could not publish integration.error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base() {
        assert_eq!(backoff(1), BACKOFF_BASE_SECS);
        assert_eq!(backoff(2), 2 * BACKOFF_BASE_SECS);
        assert_eq!(backoff(3), 4 * BACKOFF_BASE_SECS);
    }
}
