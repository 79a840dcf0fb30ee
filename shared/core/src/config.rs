//! Runtime configuration: which AWS resources to use and the request limits.
//!
//! On Lambda every value comes from an environment variable set by `template.yaml`. Locally,
//! `SWITCHYARD_STACK_PREFIX=<prefix>` derives the names from the template instead (see
//! `switchyard_ops::stack`), so the CLI and the local host need one variable, not ten.

use std::env;

use crate::clock::Clock;

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is not a number: {value:?}")]
    NotANumber { name: &'static str, value: String },
    #[error("could not resolve local stack resources: {0}")]
    Stack(String),
    #[error("environment variable {name} is invalid: {why}")]
    Invalid { name: &'static str, why: String },
}

/// The clock a function runs on: the system's, or pinned by `SWITCHYARD_CLOCK_PIN` (unix
/// seconds) so `make invoke` can replay the fixed-time signed samples in `events/` through the
/// real binary. A pinned clock defeats replay windows, so the pin is honoured only next to a
/// loopback AWS emulator (`AWS_ENDPOINT_URL` on 127.0.0.1, ::1 or localhost); anywhere else the
/// function refuses to start. The template never sets it (a test holds it to that).
pub fn clock(pin: Option<&str>, endpoint: Option<&str>) -> Result<Clock, ConfigError> {
    const NAME: &str = "SWITCHYARD_CLOCK_PIN";
    let Some(pin) = pin.map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(Clock::default());
    };
    let secs: u64 = pin.parse().map_err(|_| ConfigError::NotANumber {
        name: NAME,
        value: pin.to_owned(),
    })?;
    let host = endpoint
        .and_then(|e| e.strip_prefix("http://"))
        .map(|rest| rest.split('/').next().unwrap_or_default())
        .map(|authority| match authority.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
            _ => authority,
        });
    match host {
        Some("127.0.0.1" | "[::1]" | "localhost") => Ok(Clock::fixed(secs)),
        _ => Err(ConfigError::Invalid {
            name: NAME,
            why: "a pinned clock is only for a local emulator (AWS_ENDPOINT_URL on loopback)"
                .into(),
        }),
    }
}

/// Who is acting, for the audit log: `function:<name>` on Lambda, else `cli:<user>` (from
/// `SWITCHYARD_ACTOR` or `USER`).
pub fn actor() -> String {
    if let Ok(function) = env::var("AWS_LAMBDA_FUNCTION_NAME") {
        return format!("function:{function}");
    }
    match env::var("SWITCHYARD_ACTOR").or_else(|_| env::var("USER")) {
        Ok(user) => format!("cli:{user}"),
        Err(_) => "unknown".into(),
    }
}

/// The public base URL OAuth redirect URIs are built from (`SWITCHYARD_PUBLIC_URL`, the
/// template's `PublicBaseUrl`): it must be an absolute http(s) URL, or every redirect URI would
/// be relative and every consent would fail at the provider.
pub fn public_base_url(value: Option<&str>) -> Result<String, ConfigError> {
    const NAME: &str = "SWITCHYARD_PUBLIC_URL";
    let value = value.map(str::trim).unwrap_or_default();
    let host = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .map(|rest| rest.split('/').next().unwrap_or_default());
    match host {
        Some(host) if !host.is_empty() => Ok(value.trim_end_matches('/').to_owned()),
        _ => Err(ConfigError::Invalid {
            name: NAME,
            why: format!(
                "{value:?} is not an absolute http(s) URL; set the stack parameter PublicBaseUrl \
                 to the API's URL (the ApiUrl output) so OAuth redirect URIs are absolute"
            ),
        }),
    }
}

/// The AWS resources one deployment uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub instances_table: String,
    pub deliveries_table: String,
    pub ingress_queue_url: String,
    pub ingress_dlq_url: String,
    pub payload_bucket: String,
    pub kms_key_id: String,
    pub event_bus: String,
    pub states_table: String,
    pub connections_table: String,
    pub audit_table: String,
    pub tool_state_table: String,
    pub receipts_table: String,
    /// Sync cursors of scheduled workers (Notion polling).
    pub cursors_table: String,
    /// Push subscriptions (Google watches) and their channels.
    pub watches_table: String,
    /// Notifications that ask for a sync (Google push): the sync worker's queue.
    pub sync_queue_url: String,
    /// Media artifacts' metadata.
    pub artifacts_table: String,
    /// Media artifacts' bytes (`artifacts/<workspace>/<id>.<ext>`).
    pub artifacts_bucket: String,
    /// Per-workspace settings (retention windows).
    pub workspace_settings_table: String,
    /// Agents, their token hashes, IAM principals and grant index.
    pub agents_table: String,
    /// Deferred media jobs (background calls) and their outcomes.
    pub jobs_table: String,
    /// Deferred calls to run (background jobs, approved calls): the media worker's queue.
    pub jobs_queue_url: String,
    /// Calls waiting for a human's approval, and their decisions.
    pub approvals_table: String,
    /// Agent sessions and their checkpoints.
    pub sessions_table: String,
    /// Open live-event (WebSocket) connections.
    pub live_connections_table: String,
    /// Messages tools sent and their delivery statuses.
    pub messages_table: String,
    /// Scheduled task intents, partitioned by agent.
    pub intents_table: String,
    /// The EventBridge Scheduler group holding one schedule per pending intent run.
    pub intents_schedule_group: String,
    /// The ARN of the intents worker function (the schedules' target).
    pub intents_worker_arn: String,
    /// The ARN of the role the scheduler invokes the worker with (passed on each schedule).
    pub intents_scheduler_role_arn: String,
    /// The Secrets Manager secret holding platform API keys (JSON object).
    pub platform_keys_secret: String,
    /// The Secrets Manager secret holding the key that signs OAuth start links.
    pub oauth_link_key_secret: String,
    /// The operator tap queue on the event bus, when known (local stack, CLI).
    pub tap_queue_url: Option<String>,
    /// The local stack's stand-in for the live-events fan-out function (an SQS queue the rule
    /// targets instead; the local host drives the fan-out from it). Never set in a deployment.
    pub live_events_queue_url: Option<String>,
    /// The local stack's stand-in for the SES email-events function (as above).
    pub email_events_queue_url: Option<String>,
}

/// Request and payload limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Larger webhook bodies get 413 before any I/O.
    pub max_body_bytes: usize,
    /// Larger WorkItems put their payload in S3 and carry its key (SQS caps messages).
    pub inline_payload_bytes: usize,
    /// How long an unqueued delivery claim blocks the provider's retries: longer than the
    /// webhook function's timeout, so a retry after a crash between claim and queue is accepted.
    pub claim_secs: u64,
    /// How long a token refresher holds the connection's lease. The refresher's token calls end
    /// within two thirds of it, the rest is for persisting, so no lease expires mid-refresh.
    pub refresh_lease_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            inline_payload_bytes: 200_000,
            claim_secs: 5,
            refresh_lease_secs: 60,
        }
    }
}

impl Limits {
    /// Limits from `SWITCHYARD_MAX_BODY_BYTES`, `SWITCHYARD_INLINE_PAYLOAD_BYTES`,
    /// `SWITCHYARD_CLAIM_SECS` and `SWITCHYARD_REFRESH_LEASE_SECS`, else defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            max_body_bytes: number("SWITCHYARD_MAX_BODY_BYTES")?.unwrap_or(defaults.max_body_bytes),
            inline_payload_bytes: number("SWITCHYARD_INLINE_PAYLOAD_BYTES")?
                .unwrap_or(defaults.inline_payload_bytes),
            claim_secs: number("SWITCHYARD_CLAIM_SECS")?.map_or(defaults.claim_secs, |n| n as u64),
            refresh_lease_secs: number("SWITCHYARD_REFRESH_LEASE_SECS")?
                .map_or(defaults.refresh_lease_secs, |n| n as u64),
        })
    }
}

/// A resource a function may need, and the environment variable that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Instances,
    Deliveries,
    IngressQueue,
    IngressDlq,
    PayloadBucket,
    KmsKey,
    EventBus,
    OAuthStates,
    Connections,
    Audit,
    PlatformKeys,
    ToolState,
    Receipts,
    Cursors,
    OAuthLinkKey,
    Watches,
    SyncQueue,
    Artifacts,
    ArtifactsBucket,
    WorkspaceSettings,
    Agents,
    Jobs,
    JobsQueue,
    Approvals,
    Sessions,
    LiveConnections,
    Messages,
    Intents,
    IntentsScheduleGroup,
    IntentsWorker,
    IntentsSchedulerRole,
}

impl Need {
    /// Every resource, in the order `switchyard env` prints them.
    pub const ALL: [Need; 31] = [
        Need::Instances,
        Need::Deliveries,
        Need::IngressQueue,
        Need::IngressDlq,
        Need::PayloadBucket,
        Need::KmsKey,
        Need::EventBus,
        Need::OAuthStates,
        Need::Connections,
        Need::Audit,
        Need::PlatformKeys,
        Need::ToolState,
        Need::Receipts,
        Need::Cursors,
        Need::OAuthLinkKey,
        Need::Watches,
        Need::SyncQueue,
        Need::Artifacts,
        Need::ArtifactsBucket,
        Need::WorkspaceSettings,
        Need::Agents,
        Need::Jobs,
        Need::JobsQueue,
        Need::Approvals,
        Need::Sessions,
        Need::LiveConnections,
        Need::Messages,
        Need::Intents,
        Need::IntentsScheduleGroup,
        Need::IntentsWorker,
        Need::IntentsSchedulerRole,
    ];

    /// The environment variable naming this resource.
    pub fn var(self) -> &'static str {
        match self {
            Need::Instances => "SWITCHYARD_INSTANCES_TABLE",
            Need::Deliveries => "SWITCHYARD_DELIVERIES_TABLE",
            Need::IngressQueue => "SWITCHYARD_INGRESS_QUEUE_URL",
            Need::IngressDlq => "SWITCHYARD_INGRESS_DLQ_URL",
            Need::PayloadBucket => "SWITCHYARD_PAYLOAD_BUCKET",
            Need::KmsKey => "SWITCHYARD_KMS_KEY_ID",
            Need::EventBus => "SWITCHYARD_EVENT_BUS",
            Need::OAuthStates => "SWITCHYARD_OAUTH_STATES_TABLE",
            Need::Connections => "SWITCHYARD_CONNECTIONS_TABLE",
            Need::Audit => "SWITCHYARD_AUDIT_TABLE",
            Need::PlatformKeys => "SWITCHYARD_PLATFORM_KEYS_SECRET",
            Need::ToolState => "SWITCHYARD_TOOL_STATE_TABLE",
            Need::Receipts => "SWITCHYARD_RECEIPTS_TABLE",
            Need::Cursors => "SWITCHYARD_CURSORS_TABLE",
            Need::OAuthLinkKey => "SWITCHYARD_OAUTH_LINK_KEY_SECRET",
            Need::Watches => "SWITCHYARD_WATCHES_TABLE",
            Need::SyncQueue => "SWITCHYARD_SYNC_QUEUE_URL",
            Need::Artifacts => "SWITCHYARD_ARTIFACTS_TABLE",
            Need::ArtifactsBucket => "SWITCHYARD_ARTIFACTS_BUCKET",
            Need::WorkspaceSettings => "SWITCHYARD_WORKSPACE_SETTINGS_TABLE",
            Need::Agents => "SWITCHYARD_AGENTS_TABLE",
            Need::Jobs => "SWITCHYARD_JOBS_TABLE",
            Need::JobsQueue => "SWITCHYARD_JOBS_QUEUE_URL",
            Need::Approvals => "SWITCHYARD_APPROVALS_TABLE",
            Need::Sessions => "SWITCHYARD_SESSIONS_TABLE",
            Need::LiveConnections => "SWITCHYARD_LIVE_CONNECTIONS_TABLE",
            Need::Messages => "SWITCHYARD_MESSAGES_TABLE",
            Need::Intents => "SWITCHYARD_INTENTS_TABLE",
            Need::IntentsScheduleGroup => "SWITCHYARD_INTENTS_SCHEDULE_GROUP",
            Need::IntentsWorker => "SWITCHYARD_INTENTS_WORKER_ARN",
            Need::IntentsSchedulerRole => "SWITCHYARD_INTENTS_SCHEDULER_ROLE_ARN",
        }
    }
}

/// What each function's binary needs; its template entry sets exactly these variables (a test
/// holds the template to it) and its IAM policy grants access to these resources only.
pub mod needs {
    use super::Need::{self, *};

    /// Webhook ingress: verify (instance secrets), claim, queue (large payloads to S3), and
    /// Notion's handshake (seal, audit).
    pub const WEBHOOK: &[Need] = &[
        Instances,
        Deliveries,
        IngressQueue,
        PayloadBucket,
        KmsKey,
        Audit,
    ];
    /// The ingress consumer: lease and outcome, payloads, publish.
    /// Approval clicks go to the media worker's queue; message statuses to the message log.
    /// Messaging windows and opt-outs (`recipient#` rows) go to the tool state table.
    pub const CONSUMER: &[Need] = &[
        Instances,
        Deliveries,
        PayloadBucket,
        EventBus,
        JobsQueue,
        Messages,
        ToolState,
        Connections,
    ];
    /// OAuth start (verifies signed links) and callback.
    pub const OAUTH: &[Need] = &[
        Instances,
        KmsKey,
        OAuthStates,
        Connections,
        Audit,
        EventBus,
        OAuthLinkKey,
    ];
    /// The scheduled token refresher.
    pub const TOKEN_REFRESHER: &[Need] = &[Instances, KmsKey, Connections, Audit, EventBus];
    /// Tool methods and discovery.
    pub const TOOL: &[Need] = &[
        Instances,
        KmsKey,
        Connections,
        Audit,
        EventBus,
        ToolState,
        Receipts,
        // Media tools: platform API keys, and the artifacts they store.
        PlatformKeys,
        Artifacts,
        ArtifactsBucket,
        // Who is calling (agent tokens, IAM principals, the grant index), and the key that
        // signs the connect link of a `connection_required` answer.
        Agents,
        OAuthLinkKey,
        // Deferred calls: background jobs (record + queue) and approval gates.
        Jobs,
        JobsQueue,
        Approvals,
        // Messages tools sent (email), for their delivery statuses.
        Messages,
    ];
    /// The Notion poller: a tool call plus ingress.
    pub const NOTION_POLLER: &[Need] = &[
        Instances,
        Deliveries,
        IngressQueue,
        PayloadBucket,
        KmsKey,
        EventBus,
        Connections,
        Audit,
        ToolState,
        Receipts,
        Cursors,
    ];
    /// The retention sweep: per-workspace windows (settings, instances for receipts and
    /// payloads), deletes of expired artifacts, payload claim checks and receipts, audit.
    pub const RETENTION: &[Need] = &[
        Instances,
        Audit,
        Receipts,
        PayloadBucket,
        Artifacts,
        ArtifactsBucket,
        WorkspaceSettings,
    ];

    /// The Google sync worker and the watch renewer: internal tool calls (credentials, tool
    /// state, receipts), ingress (claim and queue), the watches, and the cursors table (the
    /// Calendar versions seen); the renewer publishes `integration.watch_failed`.
    pub const GOOGLE_SYNC: &[Need] = &[
        Instances,
        Deliveries,
        IngressQueue,
        PayloadBucket,
        KmsKey,
        EventBus,
        Connections,
        Audit,
        ToolState,
        Receipts,
        Cursors,
        Watches,
    ];

    /// Sessions and prompt templates: the sessions, who is calling (agents, the grant index) and
    /// what discovery reads to list a template's available tools (instances, breakers).
    pub const SESSIONS: &[Need] = &[Instances, Agents, ToolState, Sessions];
    /// The WebSocket API's `$connect`/`$disconnect` function: authenticates the agent (agents
    /// table) and records or forgets the connection.
    pub const WS_CONNECT: &[Need] = &[Agents, LiveConnections];
    /// The live-event fan-out: the instances (which agents an integration event is for) and the
    /// agents' open connections.
    pub const WS_FANOUT: &[Need] = &[Instances, LiveConnections];
    /// SES delivery events (EventBridge) recorded against the messages tools sent.
    pub const EMAIL_STATUS: &[Need] = &[Messages];

    /// The intents API: who is calling (agents), the checks a tool call would make (instances,
    /// grants), the intents, and their schedules (group, target, role).
    pub const INTENTS: &[Need] = &[
        Instances,
        Agents,
        Intents,
        IntentsScheduleGroup,
        IntentsWorker,
        IntentsSchedulerRole,
    ];
    /// The intents worker: a tool function's needs (it runs any tool through the pipeline),
    /// plus the intents and the schedules of their retries.
    pub const INTENTS_WORKER: &[Need] = &[
        Instances,
        KmsKey,
        Connections,
        Audit,
        EventBus,
        ToolState,
        Receipts,
        PlatformKeys,
        Artifacts,
        ArtifactsBucket,
        Agents,
        OAuthLinkKey,
        Jobs,
        JobsQueue,
        Approvals,
        Messages,
        Intents,
        IntentsScheduleGroup,
        IntentsWorker,
        IntentsSchedulerRole,
    ];

    /// The operator dashboard: reads only. Instances, connections, watches, pending approvals,
    /// recent receipts, open breakers, the ingress DLQ's depth; operator tokens (agents table)
    /// and the link key that signs its session cookies.
    pub const DASHBOARD: &[Need] = &[
        Instances,
        Connections,
        Watches,
        Approvals,
        Receipts,
        ToolState,
        IngressDlq,
        Agents,
        OAuthLinkKey,
    ];

    /// The needs of a binary, by its name in `functions/src/bin`.
    pub fn of_binary(binary: &str) -> Option<&'static [Need]> {
        Some(match binary {
            "webhook" => WEBHOOK,
            "consumer" => CONSUMER,
            "oauth" => OAUTH,
            "token-refresher" => TOKEN_REFRESHER,
            // The media worker runs deferred tool calls: a tool function's needs.
            "tool" | "mcp" | "media-worker" => TOOL,
            "notion-poller" => NOTION_POLLER,
            // The same scheduled-sync context (tools, ingress, cursors) as the Notion poller.
            "shopify-bulk-sync" => NOTION_POLLER,
            "google-sync" | "watch-renewer" => GOOGLE_SYNC,
            "retention" => RETENTION,
            "sessions" => SESSIONS,
            "ws-connect" => WS_CONNECT,
            "ws-fanout" => WS_FANOUT,
            "email-status" => EMAIL_STATUS,
            "intents" => INTENTS,
            "intents-worker" => INTENTS_WORKER,
            "dashboard" => DASHBOARD,
            _ => return None,
        })
    }
}

impl Resources {
    /// Every resource named one by one in the environment (the CLI on a deployed stack).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_env_for(&Need::ALL)
    }

    /// The resources a function `needs`, each named by its variable; the others are left empty
    /// and never touched by that function's code path. A missing needed variable is an error
    /// at cold start, naming it.
    pub fn from_env_for(needs: &[Need]) -> Result<Self, ConfigError> {
        let get = |need: Need| -> Result<String, ConfigError> {
            if needs.contains(&need) {
                required(need.var())
            } else {
                Ok(env::var(need.var()).unwrap_or_default())
            }
        };
        Ok(Self {
            instances_table: get(Need::Instances)?,
            deliveries_table: get(Need::Deliveries)?,
            ingress_queue_url: get(Need::IngressQueue)?,
            ingress_dlq_url: get(Need::IngressDlq)?,
            payload_bucket: get(Need::PayloadBucket)?,
            kms_key_id: get(Need::KmsKey)?,
            event_bus: get(Need::EventBus)?,
            states_table: get(Need::OAuthStates)?,
            connections_table: get(Need::Connections)?,
            audit_table: get(Need::Audit)?,
            platform_keys_secret: get(Need::PlatformKeys)?,
            tool_state_table: get(Need::ToolState)?,
            receipts_table: get(Need::Receipts)?,
            cursors_table: get(Need::Cursors)?,
            oauth_link_key_secret: get(Need::OAuthLinkKey)?,
            watches_table: get(Need::Watches)?,
            sync_queue_url: get(Need::SyncQueue)?,
            artifacts_table: get(Need::Artifacts)?,
            artifacts_bucket: get(Need::ArtifactsBucket)?,
            workspace_settings_table: get(Need::WorkspaceSettings)?,
            agents_table: get(Need::Agents)?,
            jobs_table: get(Need::Jobs)?,
            jobs_queue_url: get(Need::JobsQueue)?,
            approvals_table: get(Need::Approvals)?,
            sessions_table: get(Need::Sessions)?,
            live_connections_table: get(Need::LiveConnections)?,
            messages_table: get(Need::Messages)?,
            intents_table: get(Need::Intents)?,
            intents_schedule_group: get(Need::IntentsScheduleGroup)?,
            intents_worker_arn: get(Need::IntentsWorker)?,
            intents_scheduler_role_arn: get(Need::IntentsSchedulerRole)?,
            tap_queue_url: env::var("SWITCHYARD_TAP_QUEUE_URL").ok(),
            live_events_queue_url: None,
            email_events_queue_url: None,
        })
    }

    /// The value of `need`'s variable.
    pub fn value(&self, need: Need) -> &str {
        match need {
            Need::Instances => &self.instances_table,
            Need::Deliveries => &self.deliveries_table,
            Need::IngressQueue => &self.ingress_queue_url,
            Need::IngressDlq => &self.ingress_dlq_url,
            Need::PayloadBucket => &self.payload_bucket,
            Need::KmsKey => &self.kms_key_id,
            Need::EventBus => &self.event_bus,
            Need::OAuthStates => &self.states_table,
            Need::Connections => &self.connections_table,
            Need::Audit => &self.audit_table,
            Need::PlatformKeys => &self.platform_keys_secret,
            Need::ToolState => &self.tool_state_table,
            Need::Receipts => &self.receipts_table,
            Need::Cursors => &self.cursors_table,
            Need::OAuthLinkKey => &self.oauth_link_key_secret,
            Need::Watches => &self.watches_table,
            Need::SyncQueue => &self.sync_queue_url,
            Need::Artifacts => &self.artifacts_table,
            Need::ArtifactsBucket => &self.artifacts_bucket,
            Need::WorkspaceSettings => &self.workspace_settings_table,
            Need::Agents => &self.agents_table,
            Need::Jobs => &self.jobs_table,
            Need::JobsQueue => &self.jobs_queue_url,
            Need::Approvals => &self.approvals_table,
            Need::Sessions => &self.sessions_table,
            Need::LiveConnections => &self.live_connections_table,
            Need::Messages => &self.messages_table,
            Need::Intents => &self.intents_table,
            Need::IntentsScheduleGroup => &self.intents_schedule_group,
            Need::IntentsWorker => &self.intents_worker_arn,
            Need::IntentsSchedulerRole => &self.intents_scheduler_role_arn,
        }
    }
}

fn required(name: &'static str) -> Result<String, ConfigError> {
    env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing(name))
}

fn number(name: &'static str) -> Result<Option<usize>, ConfigError> {
    match env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ConfigError::NotANumber { name, value }),
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_is_pinned_only_next_to_a_loopback_emulator() {
        let pinned = clock(Some("1767225600"), Some("http://127.0.0.1:4566")).expect("pinned");
        assert_eq!(pinned.now(), 1_767_225_600);
        assert!(clock(Some("1767225600"), Some("http://localhost:4566/")).is_ok());
        assert!(clock(Some("1767225600"), Some("http://[::1]:4566")).is_ok());
        for endpoint in [
            None,
            Some("https://dynamodb.us-east-1.amazonaws.com"),
            Some("http://10.0.0.5:4566"),
            Some("http://127.0.0.1.evil.example:4566"),
            Some("http://localhost.evil.example"),
        ] {
            let refused = clock(Some("1767225600"), endpoint).expect_err("refused");
            assert!(
                refused.to_string().contains("SWITCHYARD_CLOCK_PIN"),
                "{refused}"
            );
        }
        assert!(clock(Some("soon"), Some("http://127.0.0.1:4566")).is_err());
        let system = clock(None, None).expect("system");
        assert!(system.now() > 1_767_225_600);
        let template = include_str!("../../../template.yaml");
        assert!(
            !template.contains("SWITCHYARD_CLOCK_PIN"),
            "never in a deployed function"
        );
    }

    #[test]
    fn public_base_url_must_be_absolute() {
        assert_eq!(
            public_base_url(Some("https://api.example.com/")).expect("ok"),
            "https://api.example.com"
        );
        for bad in [
            None,
            Some(""),
            Some("  "),
            Some("/oauth"),
            Some("https://"),
            Some("api.example.com"),
        ] {
            let err = public_base_url(bad).expect_err("refused");
            assert!(err.to_string().contains("PublicBaseUrl"), "{err}");
        }
    }
}
