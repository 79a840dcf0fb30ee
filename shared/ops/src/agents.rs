//! `switchyard agent …`: registering agents, their IAM principals and tokens, and rebuilding
//! the grant index. Tokens are printed once, when created, and stored only as hashes.

use std::io::Write;

use clap::Subcommand;

use switchyard::agents::{Agent, AgentStatus, DEFAULT_TOKEN_TTL_DAYS};
use switchyard::App;

use crate::admin::AdminError;
use crate::cli::CliError;

#[derive(Debug, Subcommand)]
pub enum AgentCmd {
    /// Registers an agent in a workspace; it reaches only that workspace's instances.
    Create {
        #[arg(long)]
        id: String,
        #[arg(long)]
        workspace: String,
        /// An IAM principal ARN that authenticates as this agent (SigV4 routes); repeatable.
        #[arg(long = "iam-arn")]
        iam_arns: Vec<String>,
        /// Lets the agent name the user it acts for (`on_behalf_of`): trusted headless agents
        /// only.
        #[arg(long)]
        may_act_for_users: bool,
    },
    /// Lists agents.
    List,
    /// Shows one agent and its grant index.
    Show {
        #[arg(long)]
        id: String,
    },
    /// Refuses every credential of the agent until it is enabled again.
    Disable {
        #[arg(long)]
        id: String,
    },
    /// Enables a disabled agent.
    Enable {
        #[arg(long)]
        id: String,
    },
    /// Agent tokens: create (printed once), list, revoke.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Rebuilds the grant index from the instances' grants (after grants written by an older
    /// version; scans the instances table once).
    Reindex,
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Issues a token and prints it once; only its hash is stored.
    Create {
        #[arg(long)]
        id: String,
        #[arg(long, default_value_t = DEFAULT_TOKEN_TTL_DAYS)]
        ttl_days: u64,
    },
    /// Lists an agent's tokens (ids, expiry, revocation; never the tokens).
    List {
        #[arg(long)]
        id: String,
    },
    /// Revokes a token by its id.
    Revoke {
        #[arg(long)]
        id: String,
        #[arg(long)]
        token_id: String,
    },
}

/// Runs an `agent` command.
pub async fn command(app: &App, cmd: AgentCmd, out: &mut dyn Write) -> Result<(), CliError> {
    let agents = &app.tools().agents;
    let now = app.clock.now();
    match cmd {
        AgentCmd::Create {
            id,
            workspace,
            iam_arns,
            may_act_for_users,
        } => {
            agents
                .create_agent(&Agent {
                    id: id.clone(),
                    workspace: workspace.clone(),
                    iam_arns: iam_arns.clone(),
                    may_act_for_users,
                    status: AgentStatus::Active,
                    created_at: now,
                })
                .await?;
            let detail = format!(
                "workspace {workspace}; iam {}; may_act_for_users {may_act_for_users}",
                iam_arns.join(",")
            );
            audit(app, &id, "agent_created", &detail).await?;
            writeln!(out, "created agent {id} in workspace {workspace}")?;
        }
        AgentCmd::List => {
            for a in agents.list_agents().await? {
                writeln!(
                    out,
                    "{:<24} {:<16} {:<9} may_act_for_users={} iam={}",
                    a.id,
                    a.workspace,
                    a.status.as_str(),
                    a.may_act_for_users,
                    a.iam_arns.join(",")
                )?;
            }
        }
        AgentCmd::Show { id } => {
            let agent = agents
                .agent(&id)
                .await?
                .ok_or_else(|| format!("agent {id} does not exist"))?;
            let granted = agents.granted_instances(&id).await?;
            let mut shown = serde_json::to_value(&agent)?;
            shown["granted_instances"] = serde_json::json!(granted);
            writeln!(out, "{}", serde_json::to_string_pretty(&shown)?)?;
        }
        AgentCmd::Disable { id } => {
            agents.set_status(&id, AgentStatus::Disabled).await?;
            audit(app, &id, "agent_disabled", "").await?;
            writeln!(out, "disabled agent {id}")?;
        }
        AgentCmd::Enable { id } => {
            agents.set_status(&id, AgentStatus::Active).await?;
            audit(app, &id, "agent_enabled", "").await?;
            writeln!(out, "enabled agent {id}")?;
        }
        AgentCmd::Token(TokenCmd::Create { id, ttl_days }) => {
            let issued = agents.create_token(&id, ttl_days, now).await?;
            let detail = format!(
                "{} expires {}",
                issued.record.token_id,
                switchyard::clock::rfc3339(issued.record.expires_at)
            );
            audit(app, &id, "agent_token_created", &detail).await?;
            writeln!(
                out,
                "token {} for {id}, expires {} (shown once; store it now):",
                issued.record.token_id,
                switchyard::clock::rfc3339(issued.record.expires_at)
            )?;
            writeln!(out, "{}", issued.token.expose())?;
        }
        AgentCmd::Token(TokenCmd::List { id }) => {
            for t in agents.list_tokens(&id).await? {
                writeln!(
                    out,
                    "{:<22} created={} expires={} {}",
                    t.token_id,
                    switchyard::clock::rfc3339(t.created_at),
                    switchyard::clock::rfc3339(t.expires_at),
                    t.revoked_at
                        .map(|r| format!("revoked={}", switchyard::clock::rfc3339(r)))
                        .unwrap_or_else(|| "active".into()),
                )?;
            }
        }
        AgentCmd::Token(TokenCmd::Revoke { id, token_id }) => {
            agents.revoke_token(&id, &token_id, now).await?;
            audit(app, &id, "agent_token_revoked", &token_id).await?;
            writeln!(out, "revoked {token_id} of {id}")?;
        }
        AgentCmd::Reindex => {
            let mut entries = 0;
            for instance in app.instances.list().await? {
                for agent in instance.grants.keys() {
                    agents.index_grant(agent, &instance.id).await?;
                    entries += 1;
                }
            }
            writeln!(out, "indexed {entries} grant(s)")?;
        }
    }
    Ok(())
}

async fn audit(app: &App, agent: &str, action: &str, detail: &str) -> Result<(), AdminError> {
    app.audit
        .record(
            &format!("agent#{agent}"),
            &app.actor,
            action,
            detail,
            app.clock.now(),
        )
        .await
        .map_err(|e| AdminError::Audit(e.to_string()))
}
