//! `switchyard intent …`: scheduled task intents for operators (list, show, cancel, retry).
//! Operators find an intent by id across agents (a scan: never a request path).

use std::io::Write;

use clap::Subcommand;
use switchyard::intents::{Intent, IntentStatus};
use switchyard::tools::intents;
use switchyard::App;

use crate::cli::CliError;

#[derive(Debug, Subcommand)]
pub enum IntentCmd {
    /// Intents, newest first.
    List {
        #[arg(long)]
        agent: Option<String>,
        #[arg(long)]
        workspace: Option<String>,
        /// scheduled, running, succeeded, failed or cancelled.
        #[arg(long)]
        status: Option<String>,
    },
    /// One intent: tool, schedule, status, attempts, last receipt or error.
    Show { id: String },
    /// Cancels an intent: its schedules are deleted and it never runs again.
    Cancel { id: String },
    /// Schedules a failed intent again, a few seconds from now.
    Retry { id: String },
}

fn line(intent: &Intent) -> String {
    format!(
        "{}  {:<9} {:<24} {:<16} {:<16} {}",
        switchyard::clock::rfc3339(intent.created_at),
        intent.status.as_str(),
        intent.tool,
        intent.instance_id,
        intent.agent_id,
        intent.id
    )
}

async fn find(app: &App, id: &str) -> Result<Intent, CliError> {
    let found = app
        .tools()
        .intents
        .scan(None, None, Some(id))
        .await
        .map_err(|e| e.to_string())?;
    Ok(found
        .into_iter()
        .next()
        .ok_or_else(|| format!("no intent {id}"))?)
}

pub async fn intent(app: &App, cmd: IntentCmd, out: &mut dyn Write) -> Result<(), CliError> {
    let tools = app.tools();
    let shown = match cmd {
        IntentCmd::List {
            agent,
            workspace,
            status,
        } => {
            let status = match status {
                Some(s) => {
                    Some(IntentStatus::parse(&s).ok_or_else(|| format!("no intent status {s:?}"))?)
                }
                None => None,
            };
            let mut all = match &agent {
                Some(agent) => tools.intents.list(agent).await,
                None => tools.intents.scan(workspace.as_deref(), status, None).await,
            }
            .map_err(|e| e.to_string())?;
            all.retain(|i| {
                workspace.as_deref().is_none_or(|w| i.workspace == w)
                    && status.is_none_or(|s| i.status == s)
            });
            all.sort_by_key(|i| std::cmp::Reverse(i.created_at));
            for intent in &all {
                writeln!(out, "{}", line(intent))?;
            }
            return Ok(());
        }
        IntentCmd::Show { id } => find(app, &id).await?,
        IntentCmd::Cancel { id } => {
            let found = find(app, &id).await?;
            intents::cancel(tools, &found.agent_id, &id)
                .await
                .map_err(|e| e.to_string())?
        }
        IntentCmd::Retry { id } => {
            let found = find(app, &id).await?;
            intents::retry(tools, &found.agent_id, &id)
                .await
                .map_err(|e| e.to_string())?
        }
    };
    writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(&intents::view(&shown))?
    )?;
    Ok(())
}
