//! `switchyard costs`: what a workspace's AI calls cost over a window, summed by tool, model and
//! agent from the receipts' `cost_usd` and `usage`. A receipt belongs to the workspace of its
//! instance (receipts carry the instance, instances the workspace).

use std::collections::BTreeSet;

use serde::Serialize;

use switchyard::tools::prices::CostSummary;
use switchyard::App;

/// Why the window could not be read.
#[derive(Debug, thiserror::Error)]
#[error("--since {0:?}: expected a number with a unit, e.g. 7d, 24h, 30m, 90s")]
pub struct BadWindow(String);

/// `7d`, `24h`, `30m`, `90s` in seconds.
pub fn parse_window(text: &str) -> Result<u64, BadWindow> {
    let bad = || BadWindow(text.to_owned());
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let scale = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err(bad()),
    };
    n.checked_mul(scale).ok_or_else(bad)
}

/// What `switchyard costs` prints.
#[derive(Debug, Clone, Serialize)]
pub struct CostReport {
    pub workspace: String,
    /// Receipts created at or after this Unix time.
    pub since: u64,
    /// The price table that priced the usage split by model.
    pub price_table: String,
    #[serde(flatten)]
    pub summary: CostSummary,
}

/// Sums the costs of `workspace`'s receipts of the last `window_secs`. An admin scan over the
/// receipts table (never on a request path).
pub async fn report(
    app: &App,
    workspace: &str,
    window_secs: u64,
) -> Result<CostReport, crate::cli::CliError> {
    let since = app.clock.now().saturating_sub(window_secs);
    let instances: BTreeSet<String> = app
        .instances
        .list()
        .await?
        .into_iter()
        .filter(|i| i.workspace == workspace)
        .map(|i| i.id)
        .collect();
    let tools = app.tools();
    let table = tools.prices()?;
    let receipts = tools.receipts.list(&Default::default(), usize::MAX).await?;
    let mut summary = CostSummary::default();
    for receipt in receipts
        .iter()
        .filter(|r| r.created_at >= since && instances.contains(&r.instance_id))
    {
        summary.add(table, receipt);
    }
    Ok(CostReport {
        workspace: workspace.to_owned(),
        since,
        price_table: table.version.clone(),
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_read_with_their_unit() {
        assert_eq!(parse_window("7d").ok(), Some(7 * 86_400));
        assert_eq!(parse_window("24h").ok(), Some(86_400));
        assert_eq!(parse_window("30m").ok(), Some(1_800));
        assert_eq!(parse_window("90s").ok(), Some(90));
        for bad in ["", "d", "7", "7w", "-1d", "1.5d"] {
            assert!(parse_window(bad).is_err(), "{bad}");
        }
    }
}
