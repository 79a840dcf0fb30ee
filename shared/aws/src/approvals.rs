//! Approval gates (`ApprovalsTable`): a gated tool call waiting for a human, the decision, and
//! the run it led to. See [`crate::deferred`] for the storage and its access patterns.
//!
//! Status moves `pending → approved → executing → executed`, or `pending → denied | expired`,
//! each step conditional on the one before. Two approvers racing both read `pending`; one
//! write lands. Two runners racing both read `approved`; one moves it to `executing` and runs.
//! An approval past `expires_at` is expired whatever its stored status says until it is
//! decided, so an unreaped one can never be approved.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::deferred::{DeferredRecord, RecordTable};

/// How long a decided approval is kept after it expires (TTL; tidying only).
pub const APPROVAL_KEEP_SECS: u64 = 30 * 86_400;

/// Where an approval is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Executing,
    Executed,
    Denied,
    Expired,
}

impl ApprovalStatus {
    pub const ALL: [ApprovalStatus; 6] = [
        Self::Pending,
        Self::Approved,
        Self::Executing,
        Self::Executed,
        Self::Denied,
        Self::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Executing => "executing",
            Self::Executed => "executed",
            Self::Denied => "denied",
            Self::Expired => "expired",
        }
    }

    /// The status named `name` (CLI filters).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// One gated call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub id: String,
    pub status: ApprovalStatus,
    pub tool: String,
    pub instance_id: String,
    pub workspace: String,
    pub agent_id: String,
    /// The authenticated user the agent acted for, when there was one.
    #[serde(default)]
    pub user: Option<String>,
    /// The full arguments, shown to the approver and run as stored.
    pub input: Value,
    /// The key the approved call runs under (the agent's, else one generated at the gate).
    pub idempotency_key: String,
    #[serde(default)]
    pub trace_id: Option<String>,
    pub created_at: u64,
    pub expires_at: u64,
    /// Who decided (`slack:<team>/<user>`, `cli:<name>`), and through what.
    #[serde(default)]
    pub decided_by: Option<String>,
    #[serde(default)]
    pub decided_at: Option<u64>,
    /// The receipt of the approved call's provider call.
    #[serde(default)]
    pub result_receipt_id: Option<String>,
    /// `ok`, or the approved call's error code.
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub executed_at: Option<u64>,
}

impl Approval {
    /// Whether the approval can no longer be approved at `now`.
    pub fn is_past(&self, now: u64) -> bool {
        now >= self.expires_at
    }
}

impl DeferredRecord for Approval {
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
        self.expires_at + APPROVAL_KEEP_SECS
    }
}

/// The approvals table.
pub type ApprovalStore = RecordTable<Approval>;
