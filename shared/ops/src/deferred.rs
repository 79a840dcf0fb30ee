//! `switchyard job …` and `switchyard approval …`: deferred tool calls for operators.

use std::io::Write;

use clap::Subcommand;
use switchyard::approvals::{Approval, ApprovalStatus};
use switchyard::jobs::{Job, JobStatus};
use switchyard::tools::approvals;
use switchyard::App;

use crate::cli::CliError;

#[derive(Debug, Subcommand)]
pub enum JobCmd {
    /// One background job: status, tool, agent, receipts, artifacts or error.
    Show { id: String },
    /// Background jobs, newest first.
    List {
        #[arg(long)]
        workspace: Option<String>,
        /// queued, running, succeeded or failed.
        #[arg(long)]
        status: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApprovalCmd {
    /// Gated calls with their full arguments, newest first (pending ones by default).
    List {
        #[arg(long)]
        workspace: Option<String>,
        /// pending, approved, executing, executed, denied or expired; `all` for every one.
        #[arg(long, default_value = "pending")]
        status: String,
    },
    /// One gated call with its full arguments.
    Show { id: String },
    /// Approves a call: it runs once, in the media worker.
    Approve {
        id: String,
        /// Who approves (default: the CLI's actor).
        #[arg(long)]
        by: Option<String>,
    },
    /// Denies a call: it never runs.
    Deny {
        id: String,
        #[arg(long)]
        by: Option<String>,
    },
}

fn job_line(job: &Job) -> String {
    format!(
        "{}  {:<9} {:<24} {:<16} {:<16} {}",
        switchyard::clock::rfc3339(job.created_at),
        job.status.as_str(),
        job.tool,
        job.instance_id,
        job.agent_id,
        job.id
    )
}

pub async fn job(app: &App, cmd: JobCmd, out: &mut dyn Write) -> Result<(), CliError> {
    let jobs = &app.tools().jobs;
    match cmd {
        JobCmd::Show { id } => {
            let job = jobs.get(&id).await?.ok_or_else(|| format!("no job {id}"))?;
            writeln!(out, "{}", serde_json::to_string_pretty(&job)?)?;
        }
        JobCmd::List { workspace, status } => {
            if let Some(s) = &status {
                JobStatus::parse(s).ok_or_else(|| format!("no job status {s:?}"))?;
            }
            let mut all = jobs.list(workspace.as_deref(), status.as_deref()).await?;
            all.sort_by_key(|r| std::cmp::Reverse(r.created_at));
            for job in &all {
                writeln!(out, "{}", job_line(job))?;
            }
        }
    }
    Ok(())
}

fn print_approval(out: &mut dyn Write, approval: &Approval) -> Result<(), CliError> {
    writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(&approvals::describe(approval))?
    )?;
    Ok(())
}

pub async fn approval(app: &App, cmd: ApprovalCmd, out: &mut dyn Write) -> Result<(), CliError> {
    let tools = app.tools();
    let by = |name: Option<String>| name.map_or_else(|| app.actor.clone(), |n| format!("cli:{n}"));
    match cmd {
        ApprovalCmd::List { workspace, status } => {
            let status = match status.as_str() {
                "all" => None,
                s => Some(
                    ApprovalStatus::parse(s).ok_or_else(|| format!("no approval status {s:?}"))?,
                ),
            };
            let mut all = tools.approvals.list(workspace.as_deref(), None).await?;
            all.sort_by_key(|r| std::cmp::Reverse(r.created_at));
            for stored in all {
                // Reading through `current` records a pending approval past its expiry as expired.
                let shown = approvals::current(tools, &stored.id).await?;
                if status.is_none_or(|s| s == shown.status) {
                    print_approval(out, &shown)?;
                }
            }
        }
        ApprovalCmd::Show { id } => print_approval(out, &approvals::current(tools, &id).await?)?,
        ApprovalCmd::Approve { id, by: name } => {
            let approval = approvals::decide(tools, &id, true, &by(name)).await?;
            writeln!(
                out,
                "approved {} ({}): it runs once, in the media worker",
                approval.id, approval.tool
            )?;
        }
        ApprovalCmd::Deny { id, by: name } => {
            let approval = approvals::decide(tools, &id, false, &by(name)).await?;
            writeln!(
                out,
                "denied {} ({}): it will not run",
                approval.id, approval.tool
            )?;
        }
    }
    Ok(())
}
