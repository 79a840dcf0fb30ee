//! Background media jobs (`JobsTable`): a media call the tool Lambda queued instead of running,
//! and what became of it. See [`crate::deferred`] for the storage and its access patterns.
//!
//! Status moves `queued → running → succeeded | failed`, each step conditional on the one
//! before: the worker claims a job with `queued → running`, so a redelivered message finds it
//! running or finished and runs nothing.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::deferred::{DeferredRecord, RecordTable};

/// How long a job record is kept after it is created (TTL; tidying only).
pub const JOB_TTL_SECS: u64 = 30 * 86_400;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    /// The status named `name` (CLI filters).
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Queued, Self::Running, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// One background job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub status: JobStatus,
    pub tool: String,
    pub instance_id: String,
    pub workspace: String,
    pub agent_id: String,
    /// The person the call was made for (per-user connections): the worker runs it with that
    /// person's connection again.
    #[serde(default)]
    pub user: Option<String>,
    /// The call's input, run as given (without the `mode` that deferred it).
    pub input: Value,
    /// Hex SHA-256 of the canonical input: what an operator compares without reading it.
    pub input_hash: String,
    #[serde(default)]
    pub trace_id: Option<String>,
    /// The receipt of the enqueueing call.
    pub receipt_id: String,
    /// The receipt of the provider call the worker made.
    #[serde(default)]
    pub result_receipt_id: Option<String>,
    /// The tool's output when it succeeded (artifact ids, keys, sizes; presigned URLs expire).
    #[serde(default)]
    pub output: Option<Value>,
    /// The tool's error code when it failed.
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    pub created_at: u64,
    #[serde(default)]
    pub started_at: Option<u64>,
    #[serde(default)]
    pub finished_at: Option<u64>,
}

impl DeferredRecord for Job {
    fn id(&self) -> &str {
        &self.id
    }
    fn status_name(&self) -> &'static str {
        self.status.as_str()
    }
    fn workspace(&self) -> &str {
        &self.workspace
    }
    fn ttl(&self) -> u64 {
        self.created_at + JOB_TTL_SECS
    }
}

/// The jobs table.
pub type JobStore = RecordTable<Job>;
