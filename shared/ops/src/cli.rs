//! The `switchyard` admin CLI. Same environment as the functions: `AWS_ENDPOINT_URL` for the
//! emulator, and `SWITCHYARD_STACK_PREFIX` (local) or the `SWITCHYARD_*` resource variables
//! (a deployed stack). Never prints secret values. Output goes to a writer so tests can read it.
//!
//! Secret values are taken from standard input (`--secret-stdin KEY`) or a file
//! (`--set-file KEY=PATH`), not the command line: argv stays in shell history and is readable by
//! every local user in the process list. A sensitive key passed with `--set` still works, with a
//! warning on stderr.

use std::io::{BufRead, Read, Write};

use clap::{Parser, Subcommand, ValueEnum};

use switchyard::policy::{Trigger, TriggerPolicy};
use switchyard::App;

/// A failed command (printed as `error: ...`, exit status 1).
pub type CliError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Parser)]
#[command(name = "switchyard", about = "Switchyard admin CLI", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Plugin instances: create, list, show, delete, grant, revoke, reseal.
    #[command(subcommand)]
    Instance(InstanceCmd),
    /// Agents: create, list, show, disable, enable; their tokens; grant index rebuild.
    #[command(subcommand)]
    Agent(crate::agents::AgentCmd),
    /// Accepted deliveries and the events agents received.
    #[command(subcommand)]
    Events(EventsCmd),
    /// The ingress dead-letter queue.
    #[command(subcommand)]
    Dlq(DlqCmd),
    /// OAuth connections: list, show, refresh, disconnect (never prints tokens).
    #[command(subcommand)]
    Connection(ConnectionCmd),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// API keys for providers without OAuth: platform keys and workspace overrides.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Tool methods: discovery, calls, circuit breaker.
    #[command(subcommand)]
    Tool(ToolCmd),
    /// Receipts of provider calls.
    #[command(subcommand)]
    Receipts(ReceiptsCmd),
    /// Google watches (Gmail push, Drive and Calendar channels): create, list, resync.
    #[command(subcommand)]
    Watch(crate::google::WatchCmd),
    /// Retention windows per workspace, and the sweep that applies them.
    #[command(subcommand)]
    Retention(RetentionCmd),
    /// Background media jobs: show, list.
    #[command(subcommand)]
    Job(crate::deferred::JobCmd),
    /// Scheduled task intents: list, show, cancel, retry.
    #[command(subcommand)]
    Intent(crate::intent_cli::IntentCmd),
    /// Gated tool calls: list (with full arguments), show, approve, deny.
    #[command(subcommand)]
    Approval(crate::deferred::ApprovalCmd),
    /// WhatsApp recipients' opt-outs: list, remove.
    #[command(subcommand)]
    Whatsapp(crate::messaging::WhatsappCmd),
    /// Operator credentials for the dashboard: `operator token create|list|revoke`.
    #[command(subcommand)]
    Operator(crate::operator::OperatorCmd),
    /// What a workspace's AI calls cost (USD, from the receipts), by tool, model and agent.
    Costs {
        #[arg(long)]
        workspace: String,
        /// The window back from now: 7d, 24h, 30m, 90s.
        #[arg(long, default_value = "7d")]
        since: String,
    },
    /// Prints the environment a function binary reads (`NAME=value` lines) for this stack:
    /// what `make invoke` gives the real binary.
    Env {
        /// The binary (`webhook`, `consumer`, `oauth`, `token-refresher`, `tool`,
        /// `notion-poller`, `retention`); every resource when absent.
        #[arg(long)]
        binary: Option<String>,
    },
    /// Signs a body as a provider would (for trying webhooks by hand); prints the headers.
    Sign {
        #[arg(long, value_enum)]
        provider: SignProvider,
        /// Slack signing secret, or Discord private key seed (hex).
        #[arg(long, env = "SWITCHYARD_SIGN_KEY", hide_env_values = true)]
        key: String,
        /// File with the exact body bytes to sign.
        #[arg(long)]
        body_file: std::path::PathBuf,
        /// Unix timestamp to sign with (default: now).
        #[arg(long)]
        timestamp: Option<u64>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SignProvider {
    Slack,
    Discord,
}

#[derive(Debug, Subcommand)]
enum InstanceCmd {
    /// Creates an instance; the provider's sensitive keys are encrypted with KMS.
    Create {
        #[arg(long)]
        provider: String,
        #[arg(long)]
        id: String,
        #[arg(long)]
        workspace: String,
        /// key=value, repeatable. For the provider's sensitive keys use --secret-stdin or
        /// --set-file instead (a warning says so).
        #[arg(long = "set", value_parser = parse_setting)]
        settings: Vec<(String, String)>,
        /// KEY=PATH: KEY's value is the file's content (one trailing newline trimmed);
        /// repeatable.
        #[arg(long = "set-file", value_parser = parse_setting)]
        files: Vec<(String, String)>,
        /// KEY: KEY's value is read from standard input, to its end (one trailing newline
        /// trimmed), e.g. `printf %s "$SECRET" | switchyard instance create ... --secret-stdin KEY`.
        #[arg(long = "secret-stdin")]
        secret_stdin: Option<String>,
    },
    /// Lists instances.
    List,
    /// Shows one instance (secret values are never shown, only which keys are set).
    Show {
        #[arg(long)]
        id: String,
        /// Also print the verification token the provider sent (Notion), to paste into its
        /// console. Audited.
        #[arg(long)]
        reveal_verification_token: bool,
    },
    /// Deletes an instance.
    Delete {
        #[arg(long)]
        id: String,
    },
    /// Grants an agent the instance with a trigger policy.
    Grant {
        #[arg(long)]
        id: String,
        #[arg(long)]
        agent: String,
        #[arg(long, value_enum, default_value = "mentions")]
        trigger: TriggerArg,
        /// Comma-separated channel ids, or '*' for every public channel.
        #[arg(long, value_delimiter = ',')]
        channels: Vec<String>,
        /// Deliver direct messages.
        #[arg(long)]
        dms: bool,
        /// Let '*' cover private channels too.
        #[arg(long)]
        private_channels: bool,
        /// Event type globs, comma-separated (`shopify.orders/*,email.bounce`); default: all.
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
        /// Attribute globs an event must match, key=glob, repeatable (`shop=acme.*`).
        #[arg(long = "attr", value_parser = parse_setting)]
        attributes: Vec<(String, String)>,
    },
    /// Sets allow/deny lists: on a tool's guarded input field (`--tool slack.post_message
    /// --field /channel --allow C1,C2`), or on whole tools (`--deny-tools notion.update_page`).
    Guardrail {
        #[arg(long)]
        id: String,
        #[arg(long)]
        tool: Option<String>,
        /// A JSON pointer into the tool's input, e.g. /channel.
        #[arg(long)]
        field: Option<String>,
        #[arg(long, value_delimiter = ',')]
        allow: Vec<String>,
        #[arg(long, value_delimiter = ',')]
        deny: Vec<String>,
        #[arg(long, value_delimiter = ',')]
        allow_tools: Vec<String>,
        #[arg(long, value_delimiter = ',')]
        deny_tools: Vec<String>,
    },
    /// Withdraws an agent's grant.
    Revoke {
        #[arg(long)]
        id: String,
        #[arg(long)]
        agent: String,
    },
    /// Seals secrets stored before the provider was bound into the KMS context again, so the
    /// functions (whose policies require it) can open them: one instance, or every one.
    Reseal {
        #[arg(long)]
        id: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TriggerArg {
    Mentions,
    All,
}

#[derive(Debug, Subcommand)]
enum EventsCmd {
    /// Recent work items (accepted deliveries) and their status.
    List {
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Takes the events waiting on the operator tap of the agent bus and prints them.
    Tap {
        /// Print the whole PlatformEvent JSON (includes reply credentials such as Discord
        /// interaction tokens).
        #[arg(long)]
        full: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ConnectionCmd {
    /// Prints a signed, expiring, single-use link that starts the consent flow for an instance
    /// (the start route refuses anything else). Give it to the person who should connect; with
    /// --for, the connection it makes is owned by that person (per-user connections).
    Link {
        #[arg(long)]
        instance: String,
        /// Who should connect (an email or user id): recorded, and sent as a login hint.
        #[arg(long = "for")]
        principal: Option<String>,
        /// Seconds the link stays valid (at most 7 days).
        #[arg(long, default_value_t = switchyard::oauth::links::DEFAULT_LINK_TTL_SECS)]
        ttl: u64,
    },
    /// Lists connections with status, scopes and expiry.
    List,
    /// Shows one connection.
    Show {
        #[arg(long)]
        id: String,
    },
    /// Refreshes the access token now (prints the new expiry, never the token).
    Refresh {
        #[arg(long)]
        id: String,
    },
    /// Revokes at the provider, deletes the token ciphertext, marks the connection revoked.
    Disconnect {
        #[arg(long)]
        id: String,
        /// Disconnect locally even when the provider's revocation endpoint is unreachable.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ToolCmd {
    /// The tools an agent may call (its instances' methods minus guardrails and disabled ones).
    List {
        #[arg(long)]
        agent: String,
    },
    /// Calls a tool as an agent would (`--tool slack.post_message --input '{...}'`).
    Call {
        #[arg(long)]
        tool: String,
        #[arg(long)]
        instance: String,
        #[arg(long)]
        agent: String,
        #[arg(long)]
        input: String,
        #[arg(long)]
        idempotency_key: Option<String>,
        /// The user the call is for (per-user connections).
        #[arg(long)]
        on_behalf_of: Option<String>,
    },
    /// Re-enables a tool the circuit breaker disabled on an instance.
    Enable {
        #[arg(long)]
        instance: String,
        #[arg(long)]
        tool: String,
    },
}

#[derive(Debug, Subcommand)]
enum ReceiptsCmd {
    /// Recent receipts, newest first.
    List {
        #[arg(long)]
        instance: Option<String>,
        #[arg(long)]
        tool: Option<String>,
        #[arg(long)]
        agent: Option<String>,
        /// The user the agent acted for.
        #[arg(long)]
        user: Option<String>,
        /// `ok` or an error code.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print whole receipts (attempts, rate-limit headers).
        #[arg(long)]
        full: bool,
    },
    /// One receipt in full, with the delivery statuses of the messages it sent.
    Show { id: String },
}

#[derive(Debug, Subcommand)]
enum RetentionCmd {
    /// A workspace's windows (defaults where it set none).
    Show {
        #[arg(long)]
        workspace: String,
    },
    /// Sets a workspace's windows, in days (artifacts 1-365, payloads 1-14, receipts 1-90).
    /// Audited.
    Set {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        artifacts_days: Option<u64>,
        #[arg(long)]
        payloads_days: Option<u64>,
        #[arg(long)]
        receipts_days: Option<u64>,
    },
    /// Runs the sweep now (what the scheduled RetentionFunction does).
    Run {
        /// Print what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Only this workspace's data.
        #[arg(long)]
        workspace: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCmd {
    /// Sets a key from standard input (never from the command line, which shells record):
    /// the platform's, or with --workspace that workspace's own override.
    Set {
        #[arg(long)]
        name: String,
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Says where a workspace's key comes from (workspace or platform); never prints it.
    Show {
        #[arg(long)]
        name: String,
        #[arg(long)]
        workspace: String,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCmd {
    /// Recent audit entries, or one target's history (`instance#<id>`, `connection#<id>`).
    List {
        #[arg(long)]
        target: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
enum DlqCmd {
    /// Lists dead-lettered messages (summaries, never payloads).
    List,
    /// Moves every dead-lettered message back to the ingress queue.
    Redrive,
}

fn parse_setting(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected key=value, got {s:?}"))
}

fn print_json(out: &mut dyn Write, value: &impl serde::Serialize) -> Result<(), CliError> {
    writeln!(out, "{}", serde_json::to_string_pretty(value)?)?;
    Ok(())
}

/// Where a command reads secret values from and writes its output and warnings.
pub struct Io<'a> {
    pub stdin: &'a mut dyn BufRead,
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
}

impl std::fmt::Debug for Io<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Io")
    }
}

/// Runs the CLI on `args` (including the program name), building the app from the environment.
pub async fn run(args: Vec<String>, out: &mut dyn Write) -> Result<(), CliError> {
    let cli = Cli::try_parse_from(args)?;
    if let Command::Sign {
        provider,
        key,
        body_file,
        timestamp,
    } = &cli.command
    {
        return sign(out, *provider, key, body_file, *timestamp);
    }
    let app = crate::app_from_env().await?;
    run_with_app(&app, cli, out).await
}

/// Runs a parsed command against `app`, with the process's stdin and stderr.
pub async fn run_with_app(app: &App, cli: Cli, out: &mut dyn Write) -> Result<(), CliError> {
    let mut stdin = std::io::stdin().lock();
    let mut err = std::io::stderr();
    let io = Io {
        stdin: &mut stdin,
        out,
        err: &mut err,
    };
    // Boxed: the state machine of every command's future is large, too large for a 2 MiB
    // thread stack in debug builds.
    Box::pin(run_with_io(app, cli, io)).await
}

/// Runs a parsed command against `app` with the given streams.
pub async fn run_with_io(app: &App, cli: Cli, io: Io<'_>) -> Result<(), CliError> {
    let Io { stdin, out, err } = io;
    match cli.command {
        Command::Env { binary } => {
            let needs = match binary.as_deref() {
                Some(b) => switchyard::config::needs::of_binary(b)
                    .ok_or_else(|| format!("no function binary {b:?}"))?,
                None => &switchyard::config::Need::ALL[..],
            };
            for need in needs {
                writeln!(out, "{}={}", need.var(), app.resources.value(*need))?;
            }
        }
        Command::Instance(cmd) => instance(app, cmd, stdin, out, err).await?,
        Command::Agent(cmd) => crate::agents::command(app, cmd, out).await?,
        Command::Events(EventsCmd::List { limit }) => {
            for d in app.deliveries.recent(limit).await? {
                writeln!(
                    out,
                    "{}  {:<10} {:<8} {:<16} {:<20} {:<34} attempts={} agents={}{}",
                    switchyard::clock::rfc3339(d.received_at),
                    d.status,
                    d.provider,
                    d.instance_id,
                    d.kind,
                    d.work_item_id,
                    d.attempts,
                    d.agents.join(","),
                    d.last_error
                        .map(|e| format!(" error={e}"))
                        .unwrap_or_default(),
                )?;
            }
        }
        Command::Events(EventsCmd::Tap { full }) => {
            for event in crate::admin::tap_take(app).await? {
                if full {
                    print_json(out, &event.detail)?;
                } else {
                    writeln!(out, "{}", serde_json::to_string(&event)?)?;
                }
            }
        }
        Command::Dlq(DlqCmd::List) => {
            let entries = crate::admin::dlq_list(app).await?;
            for e in &entries {
                writeln!(out, "{}", serde_json::to_string(e)?)?;
            }
            writeln!(out, "{} message(s) in the DLQ", entries.len())?;
        }
        Command::Dlq(DlqCmd::Redrive) => {
            let mut bar = crate::progress::Progress::stderr("moved to the ingress queue", None);
            let moved = crate::admin::dlq_redrive_with_progress(app, &mut |moved, total| {
                bar.set_total(total);
                bar.set(moved);
            })
            .await?;
            bar.finish();
            writeln!(out, "redrove {moved} message(s) to the ingress queue")?;
        }
        Command::Sign {
            provider,
            key,
            body_file,
            timestamp,
        } => sign(out, provider, &key, &body_file, timestamp)?,
        Command::Connection(cmd) => connection(app, cmd, out).await?,
        Command::Watch(cmd) => crate::google::watch_command(app, cmd, out, err).await?,
        Command::Tool(ToolCmd::List { agent }) => {
            for t in switchyard::tools::discover(app.tools(), &agent).await? {
                writeln!(out, "{:<34} {:<20} {}", t.tool, t.instance_id, t.name)?;
            }
        }
        Command::Tool(ToolCmd::Call {
            tool,
            instance,
            agent,
            input,
            idempotency_key,
            on_behalf_of,
        }) => {
            let request = switchyard::tools::ToolRequest {
                instance_id: instance,
                agent_id: agent,
                input: serde_json::from_str(&input)?,
                idempotency_key,
                on_behalf_of,
                ..Default::default()
            };
            let deadline = tokio::time::Instant::now() + switchyard::tools::DEFAULT_DEADLINE;
            let response = switchyard::tools::invoke(app.tools(), &tool, request, deadline).await;
            print_json(out, &response)?;
        }
        Command::Tool(ToolCmd::Enable { instance, tool }) => {
            app.tools().tool_state.enable(&instance, &tool).await?;
            app.audit
                .record(
                    &format!("instance#{instance}"),
                    &app.actor,
                    "tool_enabled",
                    &tool,
                    app.clock.now(),
                )
                .await?;
            writeln!(out, "enabled {tool} on {instance}")?;
        }
        Command::Receipts(ReceiptsCmd::List {
            instance,
            tool,
            agent,
            user,
            status,
            limit,
            full,
        }) => {
            let filter = switchyard::tools::receipts::ReceiptFilter {
                instance_id: instance,
                tool,
                agent_id: agent,
                user,
                status,
            };
            for r in app.tools().receipts.list(&filter, limit).await? {
                if full {
                    print_json(out, &r)?;
                } else {
                    writeln!(
                        out,
                        "{}  {:<38} {:<30} {:<16} {:<12} user={:<20} {:<20} attempts={} {} ms",
                        switchyard::clock::rfc3339(r.created_at),
                        r.receipt_id,
                        r.tool,
                        r.instance_id,
                        r.agent_id,
                        r.user.as_deref().unwrap_or("-"),
                        r.status,
                        r.attempts.len(),
                        r.latency_ms
                    )?;
                }
            }
        }
        Command::Receipts(ReceiptsCmd::Show { id }) => {
            let shown = crate::admin::receipt_with_deliveries(app, &id).await?;
            print_json(out, &shown)?;
        }
        Command::Costs { workspace, since } => {
            let window = crate::costs::parse_window(&since)?;
            print_json(out, &crate::costs::report(app, &workspace, window).await?)?;
        }
        Command::Key(KeyCmd::Set { name, workspace }) => {
            let mut value = String::new();
            stdin.read_line(&mut value)?;
            let value =
                switchyard::secret::SecretString::from(value.trim_end_matches(['\r', '\n']));
            if value.expose().is_empty() {
                return Err("no key on standard input".into());
            }
            match workspace {
                Some(w) => {
                    let id =
                        switchyard::keys::set_workspace_key(app.keys(), &w, &name, &value).await?;
                    writeln!(out, "set workspace {w} key {name} ({id})")?;
                }
                None => {
                    switchyard::keys::set_platform_key(app.keys(), &name, &value).await?;
                    writeln!(out, "set platform key {name}")?;
                }
            }
        }
        Command::Key(KeyCmd::Show { name, workspace }) => {
            let key = switchyard::keys::api_key(app.keys(), &workspace, &name).await?;
            writeln!(
                out,
                "{name} for workspace {workspace}: {:?} key",
                key.source
            )?;
        }
        Command::Retention(cmd) => retention(app, cmd, out).await?,
        Command::Job(cmd) => crate::deferred::job(app, cmd, out).await?,
        Command::Approval(cmd) => crate::deferred::approval(app, cmd, out).await?,
        Command::Whatsapp(cmd) => crate::messaging::command(app, cmd, out).await?,
        Command::Intent(cmd) => crate::intent_cli::intent(app, cmd, out).await?,
        Command::Operator(cmd) => crate::operator::operator(app, cmd, out).await?,
        Command::Audit(AuditCmd::List { target, limit }) => {
            let entries = match target {
                Some(t) => app.audit.history(&t).await?,
                None => app.audit.recent(limit).await?,
            };
            for e in entries {
                writeln!(
                    out,
                    "{}  {:<32} {:<18} {:<20} {}",
                    switchyard::clock::rfc3339(e.at),
                    e.target,
                    e.action,
                    e.actor,
                    e.detail
                )?;
            }
        }
    }
    Ok(())
}

async fn retention(app: &App, cmd: RetentionCmd, out: &mut dyn Write) -> Result<(), CliError> {
    use switchyard::settings::{Kind, Retention};
    let print = |out: &mut dyn Write, workspace: &str, r: &Retention| {
        writeln!(
            out,
            "workspace {workspace}: artifacts {}d, payloads {}d, receipts {}d",
            r.artifacts_days, r.payloads_days, r.receipts_days
        )
    };
    match cmd {
        RetentionCmd::Show { workspace } => {
            let r = app.retention().settings.retention(&workspace).await?;
            print(out, &workspace, &r)?;
        }
        RetentionCmd::Set {
            workspace,
            artifacts_days,
            payloads_days,
            receipts_days,
        } => {
            let changes: Vec<(Kind, u64)> = [
                (Kind::Artifacts, artifacts_days),
                (Kind::Payloads, payloads_days),
                (Kind::Receipts, receipts_days),
            ]
            .into_iter()
            .filter_map(|(kind, days)| Some((kind, days?)))
            .collect();
            let r = crate::admin::set_retention(app, &workspace, &changes).await?;
            print(out, &workspace, &r)?;
        }
        RetentionCmd::Run { dry_run, workspace } => {
            let options = switchyard::retention::Options {
                dry_run,
                workspace,
                ..Default::default()
            };
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(600);
            let report =
                switchyard::retention::run(app.retention(), &options, app.clock.now(), deadline)
                    .await?;
            let verb = if dry_run { "would delete" } else { "deleted" };
            for item in &report.items {
                writeln!(
                    out,
                    "{verb} {:<9} {:<20} {} ({} bytes)",
                    item.kind.name(),
                    item.workspace,
                    item.id,
                    item.bytes
                )?;
            }
            for (workspace, kinds) in &report.totals {
                for (kind, tally) in kinds {
                    writeln!(
                        out,
                        "{workspace}: {verb} {} {} ({} bytes)",
                        tally.count,
                        kind.name(),
                        tally.bytes
                    )?;
                }
            }
            if report.items.is_empty() {
                writeln!(out, "nothing past its retention window")?;
            }
            if !report.complete {
                writeln!(
                    out,
                    "stopped early ({}); run again to continue",
                    report.errors.join("; ")
                )?;
            }
            if report.failed > 0 {
                writeln!(out, "{} delete(s) failed; run again", report.failed)?;
            }
        }
    }
    Ok(())
}

async fn connection(app: &App, cmd: ConnectionCmd, out: &mut dyn Write) -> Result<(), CliError> {
    use switchyard::oauth::vault;
    match cmd {
        ConnectionCmd::Link {
            instance,
            principal,
            ttl,
        } => {
            let Some(found) = app.instances.get(&instance).await? else {
                return Err(format!("instance {instance} does not exist").into());
            };
            let url = switchyard::oauth::links::issue(
                app.oauth(),
                &found.provider,
                &found.id,
                principal.as_deref(),
                ttl,
            )
            .await?;
            writeln!(out, "{url}")?;
            let target = format!("instance#{}", found.id);
            let detail = match &principal {
                Some(p) => format!("start link for {p}, valid {ttl} s"),
                None => format!("start link, valid {ttl} s"),
            };
            app.audit
                .record(&target, &app.actor, "link_issued", &detail, app.clock.now())
                .await?;
        }
        ConnectionCmd::List => {
            for c in app.connections.list().await? {
                writeln!(
                    out,
                    "{:<30} {:<14} {:<16} {:<12} owner={:<24} {:<24} expires={} scopes={}",
                    c.id,
                    c.provider,
                    c.instance_id,
                    c.status.as_str(),
                    c.owner.as_deref().unwrap_or("(shared)"),
                    c.account_email
                        .as_deref()
                        .or(c.account_id.as_deref())
                        .unwrap_or("-"),
                    c.token_expires_at
                        .map(switchyard::clock::rfc3339)
                        .unwrap_or_else(|| "never".into()),
                    c.scopes.join(" "),
                )?;
            }
        }
        ConnectionCmd::Show { id } => match app.connections.get(&id).await? {
            Some(c) => print_json(out, &c)?,
            None => return Err(format!("connection {id} does not exist").into()),
        },
        ConnectionCmd::Refresh { id } => {
            let token = vault::force_refresh(app.vault(), &id).await?;
            writeln!(
                out,
                "refreshed {id}; expires {}",
                token
                    .expires_at
                    .map(switchyard::clock::rfc3339)
                    .unwrap_or_else(|| "never".into())
            )?;
        }
        ConnectionCmd::Disconnect { id, force } => {
            // The instance's watches stop first, while the token still works.
            let done = crate::google::disconnect(app, &id, force).await?;
            writeln!(
                out,
                "disconnected {id}{}",
                if done.revoked_at_provider {
                    "; revoked at the provider"
                } else {
                    "; the provider has no revocation endpoint (tokens deleted here)"
                }
            )?;
        }
    }
    Ok(())
}

async fn instance(
    app: &App,
    cmd: InstanceCmd,
    stdin: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), CliError> {
    match cmd {
        InstanceCmd::Create {
            provider,
            id,
            workspace,
            settings,
            files,
            secret_stdin,
        } => {
            if let Some(def) = app.registry.get(&provider) {
                for (key, _) in &settings {
                    if def.config.is_sensitive(key) {
                        warn_secret_on_argv(err, &provider, key)?;
                    }
                }
            }
            let settings = with_secret_inputs(settings, &files, secret_stdin, stdin)?;
            let created =
                crate::admin::create_instance(app, &provider, &id, &workspace, &settings).await?;
            print_json(out, &created)?;
        }
        InstanceCmd::List => {
            for i in app.instances.list().await? {
                writeln!(
                    out,
                    "{:<24} {:<8} {:<16} grants={}",
                    i.id,
                    i.provider,
                    i.workspace,
                    i.grants.keys().cloned().collect::<Vec<_>>().join(",")
                )?;
            }
        }
        InstanceCmd::Show {
            id,
            reveal_verification_token,
        } => match app.instances.get(&id).await? {
            Some(i) => {
                print_json(out, &i)?;
                if reveal_verification_token {
                    let token = crate::admin::reveal_verification_token(app, &i).await?;
                    writeln!(out, "verification_token: {}", token.expose())?;
                }
            }
            None => return Err(format!("instance {id} does not exist").into()),
        },
        InstanceCmd::Delete { id } => {
            if !crate::admin::delete_instance(app, &id).await? {
                return Err(format!("instance {id} does not exist").into());
            }
            writeln!(out, "deleted {id}")?;
        }
        InstanceCmd::Grant {
            id,
            agent,
            trigger,
            channels,
            dms,
            private_channels,
            events,
            attributes,
        } => {
            let policy = TriggerPolicy {
                trigger: match trigger {
                    TriggerArg::Mentions => Trigger::Mentions,
                    TriggerArg::All => Trigger::All,
                },
                channels: channels.into_iter().filter(|c| !c.is_empty()).collect(),
                dms,
                private_channels,
                events: events.into_iter().filter(|e| !e.is_empty()).collect(),
                attributes: attributes.into_iter().collect(),
            };
            crate::admin::grant(app, &id, &agent, &policy).await?;
            print_json(out, &policy)?;
        }
        InstanceCmd::Guardrail {
            id,
            tool,
            field,
            allow,
            deny,
            allow_tools,
            deny_tools,
        } => {
            let guardrails = crate::admin::set_guardrails(
                app,
                &id,
                crate::admin::GuardrailChange {
                    tool,
                    field,
                    allow,
                    deny,
                    allow_tools,
                    deny_tools,
                },
            )
            .await?;
            print_json(out, &guardrails)?;
        }
        InstanceCmd::Revoke { id, agent } => {
            crate::admin::revoke_grant(app, &id, &agent).await?;
            writeln!(out, "revoked {agent} on {id}")?;
        }
        InstanceCmd::Reseal { id } => {
            let resealed = crate::admin::reseal(app, id.as_deref()).await?;
            for id in &resealed {
                writeln!(out, "resealed {id}")?;
            }
            writeln!(out, "{} instance(s) resealed", resealed.len())?;
        }
    }
    Ok(())
}

/// Says on stderr (never with the value) that `key` should not come from the command line.
fn warn_secret_on_argv(err: &mut dyn Write, provider: &str, key: &str) -> Result<(), CliError> {
    writeln!(
        err,
        "warning: {key} is a secret of {provider}: on the command line it stays in shell history \
         and shows in the process list; pass it with --secret-stdin {key} or --set-file {key}=PATH"
    )?;
    Ok(())
}

/// Why a secret input could not be read.
#[derive(Debug, thiserror::Error)]
enum SecretInputError {
    #[error("--set-file {key}: cannot read {path}: {source}")]
    File {
        key: String,
        path: String,
        source: std::io::Error,
    },
    #[error("--secret-stdin {key}: cannot read standard input: {source}")]
    Stdin { key: String, source: std::io::Error },
    #[error("{0} is empty")]
    Empty(String),
    #[error("{0} is given twice")]
    Twice(String),
}

/// `settings` plus the values read from `files` (`KEY=PATH`) and, for `stdin_key`, from
/// `stdin`; each with one trailing newline trimmed (what `echo` and editors add).
fn with_secret_inputs(
    mut settings: Vec<(String, String)>,
    files: &[(String, String)],
    stdin_key: Option<String>,
    stdin: &mut dyn Read,
) -> Result<Vec<(String, String)>, SecretInputError> {
    let mut read = Vec::new();
    for (key, path) in files {
        let text = std::fs::read_to_string(path).map_err(|source| SecretInputError::File {
            key: key.clone(),
            path: path.clone(),
            source,
        })?;
        read.push((key.clone(), text, format!("the file {path}")));
    }
    if let Some(key) = stdin_key {
        let mut text = String::new();
        stdin
            .read_to_string(&mut text)
            .map_err(|source| SecretInputError::Stdin {
                key: key.clone(),
                source,
            })?;
        read.push((key, text, "standard input".to_owned()));
    }
    for (key, text, source) in read {
        let value = trim_one_newline(&text);
        if value.is_empty() {
            return Err(SecretInputError::Empty(format!("{key} from {source}")));
        }
        if settings.iter().any(|(k, _)| *k == key) {
            return Err(SecretInputError::Twice(key));
        }
        settings.push((key, value.to_owned()));
    }
    Ok(settings)
}

fn trim_one_newline(text: &str) -> &str {
    text.strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text)
}

fn sign(
    out: &mut dyn Write,
    provider: SignProvider,
    key: &str,
    body_file: &std::path::Path,
    timestamp: Option<u64>,
) -> Result<(), CliError> {
    let body = std::fs::read(body_file)?;
    let ts = timestamp
        .unwrap_or_else(|| switchyard::clock::Clock::default().now())
        .to_string();
    match provider {
        SignProvider::Slack => {
            writeln!(out, "X-Slack-Request-Timestamp: {ts}")?;
            writeln!(
                out,
                "X-Slack-Signature: {}",
                switchyard::verify::sign::slack(key, &ts, &body)
            )?;
        }
        SignProvider::Discord => {
            let seed: [u8; 32] = hex::decode(key.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or("Discord key must be a 32-byte hex seed")?;
            writeln!(out, "X-Signature-Timestamp: {ts}")?;
            writeln!(
                out,
                "X-Signature-Ed25519: {}",
                switchyard::verify::sign::discord(&seed, &ts, &body)
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_prints_both_slack_headers() {
        let dir = std::env::temp_dir().join(format!("sy-sign-{}", std::process::id()));
        std::fs::write(&dir, b"token=x").expect("write body");
        let mut out = Vec::new();
        sign(
            &mut out,
            SignProvider::Slack,
            "secret",
            &dir,
            Some(1531420618),
        )
        .expect("sign");
        let text = String::from_utf8(out).expect("utf8");
        assert!(
            text.contains("X-Slack-Request-Timestamp: 1531420618"),
            "{text}"
        );
        let expected = switchyard::verify::sign::slack("secret", "1531420618", b"token=x");
        assert!(
            text.contains(&format!("X-Slack-Signature: {expected}")),
            "{text}"
        );
        let _ = std::fs::remove_file(dir);
    }

    #[test]
    fn secret_inputs_trim_one_newline_and_refuse_duplicates() {
        assert_eq!(trim_one_newline("s\n\n"), "s\n");
        assert_eq!(trim_one_newline("s\r\n"), "s");
        assert_eq!(trim_one_newline("s"), "s");
        let set = vec![("team_id".to_owned(), "T1".to_owned())];
        let got = with_secret_inputs(
            set.clone(),
            &[],
            Some("signing_secret".into()),
            &mut &b"abc\n"[..],
        )
        .expect("read");
        assert_eq!(got[1], ("signing_secret".to_owned(), "abc".to_owned()));
        let twice = with_secret_inputs(set, &[], Some("team_id".into()), &mut &b"x"[..]);
        assert!(matches!(twice, Err(SecretInputError::Twice(k)) if k == "team_id"));
        let empty = with_secret_inputs(Vec::new(), &[], Some("k".into()), &mut &b"\n"[..]);
        assert!(matches!(empty, Err(SecretInputError::Empty(_))));
    }
}
