//! Per-instance daily request quotas of provider APIs (TikTok's Research API allows a number of
//! requests per day): a counter per (quota, instance, UTC day), taken with a conditional `ADD`
//! so concurrent warm Lambdas never together pass the limit.
//!
//! A row family of `ToolStateTable`: key `pk` = `quota#<quota>#<instance>#<YYYYMMDD>`,
//! `count`, TTL `expires_at` two days after the day ends.

use crate::dynamo::{n, s};
use crate::error::{chain, is_conditional_check_failed};

const DAY_SECS: u64 = 86_400;

/// Why a quota could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    #[error("quota store unavailable: {0}")]
    Unavailable(String),
}

/// The outcome of taking one request of a quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Counted: `used` requests of the day so far, this one included.
    Granted { used: u64 },
    /// The day's `limit` is used up; nothing was counted.
    Exhausted { limit: u64 },
}

/// Daily quotas in DynamoDB.
#[derive(Debug, Clone)]
pub struct DailyQuotas {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

/// The UTC day of `now` (unix seconds) as `YYYYMMDD` (Howard Hinnant's civil-from-days).
pub fn utc_day(now: u64) -> String {
    let z = now / DAY_SECS + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}")
}

impl DailyQuotas {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Takes one request of `quota` for `instance` on the UTC day of `now`, unless `limit` are
    /// already taken.
    pub async fn take(
        &self,
        quota: &str,
        instance: &str,
        limit: u64,
        now: u64,
    ) -> Result<Taken, QuotaError> {
        let key = format!("quota#{quota}#{instance}#{}", utc_day(now));
        let expires = (now / DAY_SECS + 3) * DAY_SECS;
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression("ADD #count :one SET expires_at = :expires")
            .condition_expression("attribute_not_exists(#count) OR #count < :limit")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            .expression_attribute_values(":expires", n(expires))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await;
        match out {
            Ok(out) => Ok(Taken::Granted {
                used: out
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get("count"))
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1),
            }),
            Err(e) if is_conditional_check_failed(&e) => Ok(Taken::Exhausted { limit }),
            Err(e) => Err(QuotaError::Unavailable(chain(&e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_dates() {
        assert_eq!(utc_day(0), "19700101");
        assert_eq!(utc_day(1_767_225_600), "20260101");
        assert_eq!(utc_day(1_767_225_599), "20251231");
    }
}
