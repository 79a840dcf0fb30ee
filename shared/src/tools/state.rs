//! Per-instance tool state: the circuit breaker and idempotent replays.
//!
//! Table `ToolStateTable`, key `pk`, TTL `expires_at`:
//! - `breaker#<instance>#<tool>`: `failures` in the current window (`window_start`), `disabled`
//!   with `disabled_at` and `reason`. Failures are counted with atomic `ADD`; the transition to
//!   disabled is a conditional write, so exactly one caller announces it.
//! - `idem#<instance>#<tool>#<key>`: `in_progress` (with a lease) or `done` with the stored
//!   response, kept a day. A repeated call returns the first call's response.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use crate::dynamo::{n, s};
use crate::error::{chain, is_conditional_check_failed};

/// How long an idempotent result is replayable.
pub const IDEMPOTENCY_TTL_SECS: u64 = 86_400;
/// How long a call may stay in progress before another attempt may take over.
const IN_PROGRESS_LEASE_SECS: u64 = 120;

/// Why tool state could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("tool state unavailable: {0}")]
pub struct StateError(String);

fn unavailable(e: impl std::error::Error) -> StateError {
    StateError(chain(&e))
}

/// Breaker settings for one instance (instance config `breaker_threshold`,
/// `breaker_window_secs`).
#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    pub threshold: u64,
    pub window_secs: u64,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            threshold: 5,
            window_secs: 300,
        }
    }
}

/// What an idempotency claim found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// First call with this key: go ahead.
    Fresh,
    /// The first call finished: here is its response.
    Done(serde_json::Value),
    /// The first call is still running.
    InProgress,
}

/// Tool state in DynamoDB.
#[derive(Debug, Clone)]
pub struct ToolState {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl ToolState {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn breaker_key(instance: &str, tool: &str) -> String {
        format!("breaker#{instance}#{tool}")
    }

    /// Whether `tool` is disabled on `instance`, and why.
    pub async fn disabled(&self, instance: &str, tool: &str) -> Result<Option<String>, StateError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(Self::breaker_key(instance, tool)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let item = out.item.unwrap_or_default();
        let disabled = item
            .get("disabled")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false);
        Ok(disabled.then(|| {
            item.get("reason")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        }))
    }

    /// Counts a failure. `Ok(true)`: this failure crossed the threshold and disabled the tool
    /// (returned to exactly one caller).
    pub async fn record_failure(
        &self,
        instance: &str,
        tool: &str,
        reason: &str,
        settings: BreakerSettings,
        now: u64,
    ) -> Result<bool, StateError> {
        let key = Self::breaker_key(instance, tool);
        // A new window starts when the old one is over.
        let restart = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&key))
            .update_expression("SET window_start = :now, failures = :zero")
            .condition_expression("attribute_not_exists(window_start) OR window_start < :cutoff")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":cutoff", n(now.saturating_sub(settings.window_secs)))
            .send()
            .await;
        match restart {
            Ok(_) => {}
            Err(e) if is_conditional_check_failed(&e) => {}
            Err(e) => return Err(unavailable(e)),
        }
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&key))
            .update_expression("ADD failures :one SET last_error = :reason")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":reason", s(truncate(reason)))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(unavailable)?;
        let failures = out
            .attributes
            .and_then(|a| {
                a.get("failures")
                    .and_then(|v| v.as_n().ok()?.parse::<u64>().ok())
            })
            .unwrap_or(0);
        if failures < settings.threshold {
            return Ok(false);
        }
        let disable = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&key))
            .update_expression("SET disabled = :yes, disabled_at = :now, reason = :reason")
            .condition_expression("attribute_not_exists(disabled) OR disabled = :no")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(
                ":reason",
                s(format!(
                    "{failures} failures within {} s; last: {}",
                    settings.window_secs,
                    truncate(reason)
                )),
            )
            .send()
            .await;
        match disable {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_check_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// A success closes the window's count.
    pub async fn record_success(&self, instance: &str, tool: &str) -> Result<(), StateError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(Self::breaker_key(instance, tool)))
            .update_expression("SET failures = :zero")
            .condition_expression("attribute_exists(pk) AND failures > :zero")
            .expression_attribute_values(":zero", n(0))
            .send()
            .await
            .map(|_| ())
            .or_else(|e| {
                if is_conditional_check_failed(&e) {
                    Ok(())
                } else {
                    Err(unavailable(e))
                }
            })
    }

    /// Re-enables a disabled tool (CLI `tool enable`).
    pub async fn enable(&self, instance: &str, tool: &str) -> Result<(), StateError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(Self::breaker_key(instance, tool)))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// Claims an idempotency key.
    pub async fn claim(&self, key: &str, now: u64) -> Result<Claim, StateError> {
        let pk = format!("idem#{key}");
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&pk))
            .item("state", s("in_progress"))
            .item("lease_until", n(now + IN_PROGRESS_LEASE_SECS))
            .item("expires_at", n(now + IDEMPOTENCY_TTL_SECS))
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at < :now OR (#state = :in_progress AND lease_until < :now)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":in_progress", s("in_progress"))
            .send()
            .await;
        match put {
            Ok(_) => return Ok(Claim::Fresh),
            Err(e) if is_conditional_check_failed(&e) => {}
            Err(e) => return Err(unavailable(e)),
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(&pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let item = out.item.unwrap_or_default();
        match item.get("response").and_then(|v| v.as_s().ok()) {
            Some(text) => Ok(Claim::Done(serde_json::from_str(text).unwrap_or_default())),
            None => Ok(Claim::InProgress),
        }
    }

    /// Stores the response of a claimed key.
    pub async fn finish(
        &self,
        key: &str,
        response: &serde_json::Value,
        now: u64,
    ) -> Result<(), StateError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("idem#{key}")))
            .update_expression(
                "SET #state = :done, #response = :response, expires_at = :expires REMOVE lease_until",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#response", "response")
            .expression_attribute_values(":done", s("done"))
            .expression_attribute_values(":response", s(response.to_string()))
            .expression_attribute_values(":expires", n(now + IDEMPOTENCY_TTL_SECS))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// Forgets a claimed key whose call failed before reaching the provider, so a retry runs.
    pub async fn abandon(&self, key: &str) -> Result<(), StateError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("idem#{key}")))
            .condition_expression("#state = :in_progress")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":in_progress", s("in_progress"))
            .send()
            .await
            .map(|_| ())
            .or_else(|e| {
                if is_conditional_check_failed(&e) {
                    Ok(())
                } else {
                    Err(unavailable(e))
                }
            })
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(300).collect()
}
