//! Scheduled task intents (`IntentsTable`): a tool call an agent asked to run later (`run_at`)
//! or on a schedule (`cron`), and what became of it.
//!
//! Items are partitioned by agent: `agent_id` (hash) + `id` (range), so an agent's listing is a
//! Query of its own partition, never a Scan, and another agent's id simply is not there. Each
//! item also stores `status`, `occurrence` (the scheduled time of the run last claimed) and `doc`
//! (the whole record as JSON). Every status change is a put conditioned on the `status` and
//! `occurrence` read before: two workers claiming the same occurrence, or a cancel racing a
//! claim, have one winner.
//!
//! [`IntentSchedules`] is the intent's EventBridge Scheduler side: one schedule per pending run
//! in the template's schedule group, targeting the intents worker.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dynamo::{all_items, n, s, Item};
use crate::error::{chain, is_conditional_check_failed};

/// Why an intent could not be read or written, or its schedule made.
#[derive(Debug, thiserror::Error)]
pub enum IntentError {
    #[error("intents table unavailable: {0}")]
    Unavailable(String),
    #[error("stored intent {0} is unreadable: {1}")]
    Corrupt(String, String),
    #[error("scheduler unavailable: {0}")]
    Scheduler(String),
}

/// Where an intent is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentStatus {
    /// Waiting for its schedule (the first run, the next cron occurrence, or a retry).
    Scheduled,
    /// A worker claimed the current occurrence.
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl IntentStatus {
    pub const ALL: [Self; 5] = [
        Self::Scheduled,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// The status named `name` (CLI filters).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether the intent will never run again by itself.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// One scheduled tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    pub id: String,
    /// The authenticated agent that asked (never a body's).
    pub agent_id: String,
    pub workspace: String,
    /// The user of the agent's credential, if any: the run uses that user's connection.
    #[serde(default)]
    pub user: Option<String>,
    pub tool: String,
    pub instance_id: String,
    pub input: Value,
    /// A one-off: unix seconds it runs at.
    #[serde(default)]
    pub run_at: Option<u64>,
    /// A recurring intent: its EventBridge cron expression (6 fields, without `cron(...)`).
    #[serde(default)]
    pub cron: Option<String>,
    pub idempotency_key: String,
    /// Hex SHA-256 of the canonical request: a reused idempotency key with another request is
    /// a conflict, not the same intent.
    pub request_hash: String,
    pub status: IntentStatus,
    /// Runs of the current occurrence so far (retries included).
    pub attempts: u32,
    /// Scheduled time (unix seconds) of the run last claimed: a second delivery of the same
    /// run finds it claimed.
    #[serde(default)]
    pub occurrence: u64,
    /// The schedules that may still fire for this intent (deleted on cancel).
    #[serde(default)]
    pub schedules: Vec<String>,
    #[serde(default)]
    pub last_receipt_id: Option<String>,
    #[serde(default)]
    pub last_error_code: Option<String>,
    #[serde(default)]
    pub last_error_message: Option<String>,
    /// When a retry is scheduled (unix seconds).
    #[serde(default)]
    pub next_attempt_at: Option<u64>,
    /// The approval a gated run is waiting for.
    #[serde(default)]
    pub approval_id: Option<String>,
    pub created_at: u64,
    pub updated_at: u64,
}

/// The intents table.
#[derive(Debug, Clone)]
pub struct IntentStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl IntentStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn item(intent: &Intent) -> Item {
        Item::from([
            ("agent_id".to_owned(), s(&intent.agent_id)),
            ("id".to_owned(), s(&intent.id)),
            ("status".to_owned(), s(intent.status.as_str())),
            ("workspace".to_owned(), s(&intent.workspace)),
            ("occurrence".to_owned(), n(intent.occurrence)),
            (
                "doc".to_owned(),
                s(serde_json::to_string(intent).unwrap_or_default()),
            ),
        ])
    }

    fn read(item: &Item) -> Result<Intent, IntentError> {
        let id = item
            .get("id")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        let doc = item
            .get("doc")
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| IntentError::Corrupt(id.clone(), "no doc".into()))?;
        serde_json::from_str(doc).map_err(|e| IntentError::Corrupt(id, e.to_string()))
    }

    /// Stores a new intent. `Ok(false)`: the agent has an intent with this id already.
    pub async fn create(&self, intent: &Intent) -> Result<bool, IntentError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(intent)))
            .condition_expression("attribute_not_exists(id)");
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_check_failed(&e) => Ok(false),
            Err(e) => Err(IntentError::Unavailable(chain(&e))),
        }
    }

    /// Agent `agent`'s intent `id`, if any (strongly consistent).
    pub async fn get(&self, agent: &str, id: &str) -> Result<Option<Intent>, IntentError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("agent_id", s(agent))
            .key("id", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| IntentError::Unavailable(chain(&e)))?;
        out.item.as_ref().map(Self::read).transpose()
    }

    /// Writes `intent` if its stored status and occurrence are still `from` (compare-and-set).
    /// `Ok(false)`: another writer moved it first, and nothing was written.
    pub async fn replace(
        &self,
        intent: &Intent,
        from: (IntentStatus, u64),
    ) -> Result<bool, IntentError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::item(intent)))
            .condition_expression("#s = :from AND occurrence = :occ")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":from", s(from.0.as_str()))
            .expression_attribute_values(":occ", n(from.1));
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_check_failed(&e) => Ok(false),
            Err(e) => Err(IntentError::Unavailable(chain(&e))),
        }
    }

    /// Agent `agent`'s intents (a Query of its partition), oldest id first.
    pub async fn list(&self, agent: &str) -> Result<Vec<Intent>, IntentError> {
        let mut intents = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("agent_id = :a")
                .expression_attribute_values(":a", s(agent))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| IntentError::Unavailable(chain(&e)))?;
            for item in out.items.unwrap_or_default() {
                intents.push(Self::read(&item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(intents);
            }
        }
    }

    /// Every intent, optionally of one workspace, status or id. A scan: for the operator's CLI
    /// only, never a request path.
    pub async fn scan(
        &self,
        workspace: Option<&str>,
        status: Option<IntentStatus>,
        id: Option<&str>,
    ) -> Result<Vec<Intent>, IntentError> {
        let mut scan = self.client.scan().table_name(&self.table);
        let mut filters = Vec::new();
        if let Some(w) = workspace {
            filters.push("workspace = :w");
            scan = scan.expression_attribute_values(":w", AttributeValue::S(w.to_owned()));
        }
        if let Some(st) = status {
            filters.push("#s = :s");
            scan = scan
                .expression_attribute_names("#s", "status")
                .expression_attribute_values(":s", s(st.as_str()));
        }
        if let Some(id) = id {
            filters.push("id = :id");
            scan = scan.expression_attribute_values(":id", s(id));
        }
        if !filters.is_empty() {
            scan = scan.filter_expression(filters.join(" AND "));
        }
        let items = all_items(scan)
            .await
            .map_err(|e| IntentError::Unavailable(chain(&e)))?;
        items.iter().map(Self::read).collect()
    }
}

/// The scheduler's context attribute replaced by each occurrence's scheduled time (RFC 3339)
/// in a target's input.
pub const SCHEDULED_TIME: &str = "<aws.scheduler.scheduled-time>";

/// What the worker is invoked with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerInput {
    pub intent_id: String,
    pub agent_id: String,
    /// The occurrence's scheduled time, RFC 3339 (the scheduler fills [`SCHEDULED_TIME`] in).
    pub scheduled_time: String,
}

/// One schedule as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleView {
    pub name: String,
    /// `at(YYYY-MM-DDThh:mm:ss)` or `cron(...)`.
    pub expression: String,
    /// The target's input (JSON text).
    pub input: String,
}

/// The intents' schedules: one EventBridge Scheduler schedule per pending run, in the
/// template's group, invoking the intents worker under the scheduler role.
#[cfg(feature = "scheduler")]
#[derive(Debug, Clone)]
pub struct IntentSchedules {
    client: aws_sdk_scheduler::Client,
    group: String,
    worker_arn: String,
    role_arn: String,
}

#[cfg(feature = "scheduler")]
impl IntentSchedules {
    pub fn new(
        client: aws_sdk_scheduler::Client,
        group: impl Into<String>,
        worker_arn: impl Into<String>,
        role_arn: impl Into<String>,
    ) -> Self {
        Self {
            client,
            group: group.into(),
            worker_arn: worker_arn.into(),
            role_arn: role_arn.into(),
        }
    }

    /// Creates schedule `name` with `expression`, invoking the worker for `input`. A one-off
    /// (`at(...)`) deletes itself after it fired, as intents never reuse a schedule.
    pub async fn create(
        &self,
        name: &str,
        expression: &str,
        input: &WorkerInput,
    ) -> Result<(), IntentError> {
        use aws_sdk_scheduler::types::{
            ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, Target,
        };
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| IntentError::Scheduler(e.to_string()))?;
        let target = Target::builder()
            .arn(&self.worker_arn)
            .role_arn(&self.role_arn)
            .input(serde_json::to_string(input).unwrap_or_default())
            .build()
            .map_err(|e| IntentError::Scheduler(e.to_string()))?;
        let mut create = self
            .client
            .create_schedule()
            .name(name)
            .group_name(&self.group)
            .schedule_expression(expression)
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .target(target);
        if expression.starts_with("at(") {
            create = create.action_after_completion(ActionAfterCompletion::Delete);
        }
        create
            .send()
            .await
            .map(|_| ())
            .map_err(|e| IntentError::Scheduler(chain(&e)))
    }

    /// Deletes schedule `name`; one already gone (fired and deleted) is fine.
    pub async fn delete(&self, name: &str) -> Result<(), IntentError> {
        match self
            .client
            .delete_schedule()
            .name(name)
            .group_name(&self.group)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(IntentError::Scheduler(chain(&e))),
        }
    }

    /// The names of every schedule in the group.
    pub async fn names(&self) -> Result<Vec<String>, IntentError> {
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_schedules()
                .group_name(&self.group)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| IntentError::Scheduler(chain(&e)))?;
            names.extend(
                out.schedules
                    .into_iter()
                    .filter_map(|s| s.name)
                    .collect::<Vec<_>>(),
            );
            token = out.next_token;
            if token.is_none() {
                return Ok(names);
            }
        }
    }

    /// Schedule `name`, if it exists.
    pub async fn get(&self, name: &str) -> Result<Option<ScheduleView>, IntentError> {
        match self
            .client
            .get_schedule()
            .name(name)
            .group_name(&self.group)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ScheduleView {
                name: name.to_owned(),
                expression: out.schedule_expression.unwrap_or_default(),
                input: out.target.and_then(|t| t.input).unwrap_or_default(),
            })),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(IntentError::Scheduler(chain(&e))),
        }
    }
}
