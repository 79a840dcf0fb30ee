//! Per-workspace settings: today the retention windows of artifacts, raw webhook payloads and
//! receipts.
//!
//! Table `WorkspaceSettingsTable`, key `pk` = workspace. A table of its own rather than items in
//! an existing one: InstancesTable is scanned as instances, CursorsTable holds workers' progress,
//! ToolStateTable expires by TTL, and other per-workspace settings (media limits) can join this
//! item as attributes of their own. Writes update only the retention attributes, so they never
//! erase another setting. Access patterns: get one workspace (a missing item or attribute is the
//! default); list every configured workspace (the retention sweep; a scan of a small table).

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use crate::dynamo::{n, s, Item};
use crate::error::chain;

/// Seconds in a day.
pub const DAY_SECS: u64 = 86_400;

/// What kind of data a retention window applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Media artifacts: S3 object and metadata item.
    Artifacts,
    /// Raw webhook payloads stored as claim checks (`payloads/…` in PayloadBucket).
    Payloads,
    /// Tool-call receipts.
    Receipts,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Artifacts, Kind::Payloads, Kind::Receipts];

    /// The item attribute and CLI name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Artifacts => "artifacts",
            Kind::Payloads => "payloads",
            Kind::Receipts => "receipts",
        }
    }

    fn attribute(self) -> String {
        format!("retention_{}_days", self.name())
    }

    /// The window used when a workspace has set none.
    pub fn default_days(self) -> u32 {
        match self {
            Kind::Artifacts => 30,
            Kind::Payloads => 7,
            // The receipts' own TTL (`RECEIPT_TTL_SECS`).
            Kind::Receipts => 90,
        }
    }

    /// The longest window accepted. Each matches a backstop that deletes regardless: the
    /// artifacts bucket's 400-day lifecycle rule (a year, with room), the payload bucket's
    /// 14-day rule (the DLQ's retention), and the receipts' 90-day TTL.
    pub fn max_days(self) -> u32 {
        match self {
            Kind::Artifacts => 365,
            Kind::Payloads => 14,
            Kind::Receipts => 90,
        }
    }
}

/// Why a setting could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("workspace settings unavailable: {0}")]
    Unavailable(String),
    #[error("{kind} retention of {days} days is out of range (1 to {max} days)", kind = .kind.name())]
    OutOfRange { kind: Kind, days: u64, max: u32 },
    #[error("workspace {0:?} must be 1-128 characters without control characters")]
    BadWorkspace(String),
}

/// A workspace's retention windows, in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Retention {
    pub artifacts_days: u32,
    pub payloads_days: u32,
    pub receipts_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            artifacts_days: Kind::Artifacts.default_days(),
            payloads_days: Kind::Payloads.default_days(),
            receipts_days: Kind::Receipts.default_days(),
        }
    }
}

impl Retention {
    /// The window of `kind`, in days.
    pub fn days(&self, kind: Kind) -> u32 {
        match kind {
            Kind::Artifacts => self.artifacts_days,
            Kind::Payloads => self.payloads_days,
            Kind::Receipts => self.receipts_days,
        }
    }

    /// The window of `kind`, in seconds.
    pub fn secs(&self, kind: Kind) -> u64 {
        u64::from(self.days(kind)) * DAY_SECS
    }

    /// Whether data of `kind` made at `created_at` is past its window at `now`.
    pub fn expired(&self, kind: Kind, created_at: u64, now: u64) -> bool {
        created_at.saturating_add(self.secs(kind)) <= now
    }

    /// When an artifact made at `created_at` expires (what `ArtifactStore::put` records).
    pub fn artifact_expires_at(&self, created_at: u64) -> u64 {
        created_at.saturating_add(self.secs(Kind::Artifacts))
    }
}

/// Checks a window: whole days from 1 to the kind's maximum.
pub fn check_days(kind: Kind, days: u64) -> Result<u32, SettingsError> {
    match u32::try_from(days) {
        Ok(d) if (1..=kind.max_days()).contains(&d) => Ok(d),
        _ => Err(SettingsError::OutOfRange {
            kind,
            days,
            max: kind.max_days(),
        }),
    }
}

fn check_workspace(workspace: &str) -> Result<(), SettingsError> {
    if (1..=128).contains(&workspace.len()) && !workspace.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(SettingsError::BadWorkspace(workspace.to_owned()))
    }
}

/// Workspace settings in DynamoDB.
#[derive(Debug, Clone)]
pub struct SettingsStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl SettingsStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// `workspace`'s retention windows (defaults for what it has not set).
    pub async fn retention(&self, workspace: &str) -> Result<Retention, SettingsError> {
        check_workspace(workspace)?;
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(workspace))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| SettingsError::Unavailable(chain(&e)))?;
        Ok(out.item.as_ref().map(retention).unwrap_or_default())
    }

    /// Sets the windows given (others keep their value), each checked first.
    pub async fn set_retention(
        &self,
        workspace: &str,
        changes: &[(Kind, u64)],
        now: u64,
    ) -> Result<Retention, SettingsError> {
        check_workspace(workspace)?;
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(workspace))
            .expression_attribute_values(":now", n(now));
        let mut sets = vec!["updated_at = :now".to_owned()];
        for (kind, days) in changes {
            let days = check_days(*kind, *days)?;
            sets.push(format!("{} = :{}", kind.attribute(), kind.name()));
            update =
                update.expression_attribute_values(format!(":{}", kind.name()), n(u64::from(days)));
        }
        update
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await
            .map_err(|e| SettingsError::Unavailable(chain(&e)))?;
        self.retention(workspace).await
    }

    /// Every workspace with settings stored, and its windows.
    pub async fn all_retention(&self) -> Result<BTreeMap<String, Retention>, SettingsError> {
        let items = crate::dynamo::all_items(
            self.client
                .scan()
                .table_name(&self.table)
                .consistent_read(true),
        )
        .await
        .map_err(|e| SettingsError::Unavailable(chain(&e)))?;
        Ok(items
            .iter()
            .filter_map(|item| {
                let workspace = item.get("pk")?.as_s().ok()?.clone();
                Some((workspace, retention(item)))
            })
            .collect())
    }
}

fn retention(item: &Item) -> Retention {
    let days = |kind: Kind| {
        item.get(&kind.attribute())
            .and_then(|v: &AttributeValue| v.as_n().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .and_then(|d| check_days(kind, d).ok())
            .unwrap_or_else(|| kind.default_days())
    };
    Retention {
        artifacts_days: days(Kind::Artifacts),
        payloads_days: days(Kind::Payloads),
        receipts_days: days(Kind::Receipts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_whole_days_within_each_kinds_backstop() {
        assert_eq!(check_days(Kind::Artifacts, 30).expect("ok"), 30);
        assert_eq!(check_days(Kind::Payloads, 14).expect("ok"), 14);
        for (kind, bad) in [
            (Kind::Artifacts, 0),
            (Kind::Artifacts, 366),
            (Kind::Payloads, 15),
            (Kind::Receipts, 91),
            (Kind::Receipts, u64::MAX),
        ] {
            let err = check_days(kind, bad).expect_err("refused");
            assert!(err.to_string().contains(kind.name()), "{err}");
        }
    }

    #[test]
    fn expiry_counts_whole_windows_from_creation() {
        let r = Retention {
            artifacts_days: 2,
            ..Retention::default()
        };
        assert!(!r.expired(Kind::Artifacts, 1000, 1000 + 2 * DAY_SECS - 1));
        assert!(r.expired(Kind::Artifacts, 1000, 1000 + 2 * DAY_SECS));
        assert_eq!(r.artifact_expires_at(1000), 1000 + 2 * DAY_SECS);
        assert_eq!(Retention::default().days(Kind::Payloads), 7);
        assert_eq!(Retention::default().days(Kind::Receipts), 90);
    }
}
