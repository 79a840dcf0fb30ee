//! Per-instance tool state: the circuit breaker and idempotent replays.
//!
//! Table `ToolStateTable`, key `pk`, TTL `expires_at`:
//! - `breaker#<instance>#<tool>`: `failures` in the current window (`window_start`), `disabled`
//!   with `disabled_at` and `reason`, and `probe_until` while one half-open probe runs. Failures
//!   are counted with atomic `ADD`; opening, taking the probe and closing are conditional writes,
//!   so exactly one caller announces each transition and one probe runs at a time.
//! - `idem#<instance>#<tool>#<agent and key hash>`: `in_progress` (with a lease and the claiming
//!   call's `owner`), `done` with the stored response, or `unknown` (the request may have
//!   reached the provider and its result is not known), kept a day with the `request_hash` the
//!   key is bound to. A repeated call returns the first call's response; a key is never taken
//!   over while it lives, so the same key never acts twice.

use switchyard_aws::dynamodb::types::{AttributeValue, ReturnValue};

use crate::aws_error::{chain, is_conditional_check_failed};
use crate::dynamo::{n, s};

/// How long an idempotent result is replayable.
pub const IDEMPOTENCY_TTL_SECS: u64 = 86_400;
/// How long a call may stay in progress before another attempt may take over.
const IN_PROGRESS_LEASE_SECS: u64 = 120;

/// How long a half-open probe holds the breaker before another caller may probe.
const PROBE_LEASE_SECS: u64 = 120;

/// Why tool state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("tool state unavailable: {0}")]
    Unavailable(String),
    /// A stored item that cannot be read: an error, never a reason to run the call again.
    #[error("stored tool state is unreadable: {0}")]
    Corrupt(String),
}

fn unavailable(e: impl std::error::Error) -> StateError {
    StateError::Unavailable(chain(&e))
}

/// Breaker settings for one instance (instance config `breaker_threshold`,
/// `breaker_window_secs`, `breaker_cooldown_secs`).
#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    pub threshold: u64,
    pub window_secs: u64,
    /// How long an open breaker waits before one probe call may go through.
    pub cooldown_secs: u64,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            threshold: 5,
            window_secs: 300,
            cooldown_secs: 60,
        }
    }
}

/// What the breaker lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Calls go through.
    Closed,
    /// Open past its cool-down, and this caller holds the one probe: its outcome closes or
    /// re-opens the breaker.
    Probe,
    /// Open: fail fast, with the reason it opened.
    Open { reason: String },
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
    /// The first call may have reached the provider and its result is unknown (it said so, or
    /// its lease ran out without a result).
    Unknown,
    /// The key is bound to another request (another input).
    Conflict,
}

/// Tool state in DynamoDB.
#[derive(Debug, Clone)]
pub struct ToolState {
    client: switchyard_aws::dynamodb::Client,
    table: String,
}

impl ToolState {
    pub fn new(client: switchyard_aws::dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The client and table, for other row families of this table (`shopify_budget#…`).
    pub fn table(&self) -> (&switchyard_aws::dynamodb::Client, &str) {
        (&self.client, &self.table)
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

    /// Whether calls may go through; past the cool-down, takes the single half-open probe.
    pub async fn gate(
        &self,
        instance: &str,
        tool: &str,
        settings: BreakerSettings,
        now: u64,
    ) -> Result<Gate, StateError> {
        let key = Self::breaker_key(instance, tool);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(&key))
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
        if !disabled {
            return Ok(Gate::Closed);
        }
        let reason = item
            .get("reason")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        let probe = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&key))
            .update_expression("SET probe_until = :lease")
            .condition_expression(
                "disabled = :yes AND disabled_at <= :cooled AND (attribute_not_exists(probe_until) OR probe_until < :now)",
            )
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":cooled", n(now.saturating_sub(settings.cooldown_secs)))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":lease", n(now + PROBE_LEASE_SECS))
            .send()
            .await;
        match probe {
            Ok(_) => Ok(Gate::Probe),
            Err(e) if is_conditional_check_failed(&e) => Ok(Gate::Open { reason }),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// A successful probe closes an open breaker. `Ok(true)`: this call closed it (returned to
    /// exactly one caller, who announces it).
    pub async fn close(&self, instance: &str, tool: &str) -> Result<bool, StateError> {
        let closed = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(Self::breaker_key(instance, tool)))
            .condition_expression("disabled = :yes")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await;
        match closed {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_check_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// A failed probe re-opens the breaker for another cool-down.
    pub async fn reopen(
        &self,
        instance: &str,
        tool: &str,
        reason: &str,
        now: u64,
    ) -> Result<(), StateError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(Self::breaker_key(instance, tool)))
            .update_expression(
                "SET disabled = :yes, disabled_at = :now, reason = :reason REMOVE probe_until",
            )
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(
                ":reason",
                s(format!("probe failed: {}", truncate(reason))),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// Gives the probe back unused (the probe call never reached the provider, or proved
    /// nothing about it), so the next caller may probe.
    pub async fn release_probe(&self, instance: &str, tool: &str) -> Result<(), StateError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(Self::breaker_key(instance, tool)))
            .update_expression("REMOVE probe_until")
            .condition_expression("attribute_exists(pk)")
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

    /// Claims an idempotency key for the call `owner`, bound to `request_hash`. A live key is
    /// never taken over, not even after its lease: the call holding it may have reached the
    /// provider.
    pub async fn claim(
        &self,
        key: &str,
        request_hash: &str,
        owner: &str,
        now: u64,
    ) -> Result<Claim, StateError> {
        let pk = format!("idem#{key}");
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&pk))
            .item("state", s("in_progress"))
            .item("owner", s(owner))
            .item("request_hash", s(request_hash))
            .item("lease_until", n(now + IN_PROGRESS_LEASE_SECS))
            .item("expires_at", n(now + IDEMPOTENCY_TTL_SECS))
            .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
            .expression_attribute_values(":now", n(now))
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
        let Some(item) = out.item else {
            // Expired and removed between the put and the read: the caller may try again.
            return Ok(Claim::InProgress);
        };
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
        if text("request_hash").map(String::as_str) != Some(request_hash) {
            return Ok(Claim::Conflict);
        }
        match text("state").map(String::as_str) {
            Some("done") => {
                let stored = text("response")
                    .ok_or_else(|| StateError::Corrupt(format!("{pk}: done without a response")))?;
                serde_json::from_str(stored)
                    .map(Claim::Done)
                    .map_err(|e| StateError::Corrupt(format!("{pk}: {e}")))
            }
            Some("unknown") => Ok(Claim::Unknown),
            Some("in_progress") => {
                let lease = item
                    .get("lease_until")
                    .and_then(|v| v.as_n().ok()?.parse::<u64>().ok())
                    .unwrap_or(0);
                Ok(if lease >= now {
                    Claim::InProgress
                } else {
                    Claim::Unknown
                })
            }
            other => Err(StateError::Corrupt(format!("{pk}: state {other:?}"))),
        }
    }

    /// Stores the response of a key `owner` claimed.
    pub async fn finish(
        &self,
        key: &str,
        owner: &str,
        response: &serde_json::Value,
        now: u64,
    ) -> Result<(), StateError> {
        self.settle(
            key,
            owner,
            "SET #state = :done, #response = :response, expires_at = :expires REMOVE lease_until",
            vec![
                (":done", s("done")),
                (":response", s(response.to_string())),
                (":expires", n(now + IDEMPOTENCY_TTL_SECS)),
            ],
        )
        .await
    }

    /// Marks a key `owner` claimed as spent with an unknown outcome: the request may have reached
    /// the provider. The key then answers `outcome_unknown` until it expires.
    pub async fn mark_unknown(&self, key: &str, owner: &str, now: u64) -> Result<(), StateError> {
        self.settle(
            key,
            owner,
            "SET #state = :unknown, expires_at = :expires REMOVE lease_until",
            vec![
                (":unknown", s("unknown")),
                (":expires", n(now + IDEMPOTENCY_TTL_SECS)),
            ],
        )
        .await
    }

    async fn settle(
        &self,
        key: &str,
        owner: &str,
        update: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<(), StateError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("idem#{key}")))
            .update_expression(update)
            .condition_expression("#owner = :owner AND #state = :in_progress")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":in_progress", s("in_progress"));
        if update.contains("#response") {
            request = request.expression_attribute_names("#response", "response");
        }
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        request.send().await.map(|_| ()).map_err(unavailable)
    }

    /// Forgets a key `owner` claimed whose call certainly did not reach the provider, so a retry
    /// with the same key runs.
    pub async fn abandon(&self, key: &str, owner: &str) -> Result<(), StateError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("idem#{key}")))
            .condition_expression("#state = :in_progress AND #owner = :owner")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":in_progress", s("in_progress"))
            .expression_attribute_values(":owner", s(owner))
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
