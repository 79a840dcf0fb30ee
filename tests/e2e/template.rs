//! The template passes cfn-lint and `sam validate --lint` (offline, from the pinned venv), and
//! its generated regions match the definitions (`infra/gen_template.py --check`).

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn venv() -> PathBuf {
    std::env::var("SWITCHYARD_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join(".venv"))
}

#[test]
fn template_passes_cfn_lint_and_sam_validate() {
    let root = root();
    let out = Command::new("bash")
        .arg(root.join("infra/validate-template.sh"))
        .env("VENV", venv())
        .current_dir(&root)
        .output()
        .expect("run infra/validate-template.sh");
    assert!(
        out.status.success(),
        "template validation failed (run `make tools` first if the venv is missing):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Webhook functions, their log groups and URL outputs, and tool functions are generated from
/// `shared/providers/*.yaml` and `shared/integrations/*.json`: a new provider or method without
/// `make template` fails here.
#[test]
fn template_is_generated_from_the_definitions() {
    let root = root();
    let out = Command::new(venv().join("bin/python"))
        .arg(root.join("infra/gen_template.py"))
        .arg("--check")
        .current_dir(&root)
        .output()
        .expect(
            "run infra/gen_template.py --check (run `make tools` first if the venv is missing)",
        );
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Every function reads exactly the resource variables its binary needs
/// (`switchyard::config::needs`), set in its own template entry, and none comes from Globals:
/// a function is configured with, and so can be granted, only what it uses.
#[test]
fn every_function_is_given_exactly_the_resources_its_binary_needs() {
    use switchyard::config::{needs, Need};
    let text = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
    let template: serde_yaml::Value = serde_yaml::from_str(&text).expect("template parses");
    let resource_vars: Vec<&str> = Need::ALL.iter().map(|n| n.var()).collect();
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    for var in &resource_vars {
        assert!(
            globals.get(*var).is_none(),
            "{var} is in Globals: every function would get it"
        );
    }
    let resources = template["Resources"].as_mapping().expect("Resources");
    let mut checked = 0;
    for (id, resource) in resources {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let id = id.as_str().unwrap_or_default();
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} names no binary"));
        let vars = &resource["Properties"]["Environment"]["Variables"];
        // A webhook function's needs follow its provider's definition (queue, scheme).
        let webhook_needs: Option<Vec<Need>> = (binary == "webhook").then(|| {
            let provider = vars["SWITCHYARD_PROVIDER"].as_str().expect("provider");
            let registry = switchyard::providers::Registry::load().expect("registry");
            let def = registry.get(provider).expect("provider definition");
            def.webhook.as_ref().expect("webhook").needs()
        });
        let wanted: Vec<&str> = match &webhook_needs {
            Some(needs) => needs.as_slice(),
            None => needs::of_binary(binary)
                .unwrap_or_else(|| panic!("{id}: binary {binary} has no needs list")),
        }
        .iter()
        .map(|n| n.var())
        .collect();
        let mut given: Vec<&str> = resource_vars
            .iter()
            .copied()
            .filter(|v| vars.get(*v).is_some())
            .collect();
        let mut wanted_sorted = wanted.clone();
        given.sort_unstable();
        wanted_sorted.sort_unstable();
        assert_eq!(given, wanted_sorted, "{id} ({binary})");
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} functions");
}

// ---------------------------------------------------------------- least privilege

/// Providers with an `oauth:` section: the only ones with connections, so the only ones whose
/// tools, OAuth functions and token refresher may touch `connection_id` envelopes.
const OAUTH_PROVIDERS: &[&str] = &[
    "discord",
    "generic-oauth2",
    "google",
    "notion",
    "shopify",
    "slack",
    "tiktok",
];
/// Webhook providers whose notifications ask for a sync (Google push): queued on SyncQueue,
/// verified against public keys or stored channels (`true`: reads WatchesTable) instead of
/// instance secrets, so never granted KMS.
const SYNC_WEBHOOK_PROVIDERS: &[(&str, bool)] =
    &[("google-channel", true), ("google-pubsub", false)];
/// Providers whose webhook captures a one-time verification token (seals it into the instance).
const VERIFICATION_TOKEN_PROVIDERS: &[&str] = &["notion"];
/// The provider each integration's tools run on (`x-switchyard.provider`).
const INTEGRATION_PROVIDERS: &[(&str, &str)] = &[
    ("calendar", "google"),
    ("discord", "discord"),
    ("docs", "google"),
    ("drive", "google"),
    ("email", "email"),
    ("gmail", "google"),
    ("http", "http"),
    ("kb", "pinecone"),
    ("llm", "llm"),
    ("media", "media"),
    ("notion", "notion"),
    ("shopify", "shopify"),
    ("slack", "slack"),
    ("tiktok", "tiktok"),
    ("vector", "pinecone"),
    ("whatsapp", "whatsapp"),
];

/// AI integrations and the API keys their tools read (`aiConfig.x-providers[].keyName`): the
/// platform keys secret, and workspace overrides sealed as connections under the key's name.
const API_KEY_INTEGRATIONS: &[(&str, &[&str])] = &[
    ("llm", &["anthropic", "deepseek", "openai"]),
    // Pinecone, and the knowledge base's embeddings (`x-switchyard.apiKeys`).
    ("kb", &["openai", "pinecone"]),
    ("vector", &["pinecone"]),
    // SendGrid's key (`x-switchyard.apiKeys`); SES uses the role.
    ("email", &["sendgrid"]),
];

/// One permission of a function's role: an action on a resource (logical id, plus a path for
/// S3 objects), and for KMS the encryption context the call must carry: the providers it may
/// name (`kms:EncryptionContext:provider`) and the keys it may use (`kms:EncryptionContextKeys`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Grant {
    action: String,
    resource: String,
    providers: Vec<String>,
    context_keys: Vec<String>,
}

fn allow(actions: &[&str], resource: &str) -> Vec<Grant> {
    actions
        .iter()
        .map(|a| Grant {
            action: (*a).to_owned(),
            resource: resource.to_owned(),
            providers: Vec::new(),
            context_keys: Vec::new(),
        })
        .collect()
}

/// What sending email takes: SES from the account's identities with the stack's configuration
/// set, and the message log (upserts).
fn email_grants() -> Vec<Grant> {
    let mut grants = allow(&["ses:SendEmail"], "ses:identity/*");
    grants.extend(allow(
        &["ses:SendEmail"],
        "ses:configuration-set/EmailConfigurationSet",
    ));
    grants.extend(allow(&["dynamodb:UpdateItem"], "MessagesTable"));
    grants
}

/// A TokenKey grant for envelopes of `providers` bound to `keys` (plus `provider`).
fn kms(action: &str, providers: &[&str], keys: &[&str]) -> Vec<Grant> {
    let mut providers: Vec<String> = providers.iter().map(|p| (*p).to_owned()).collect();
    let mut context_keys: Vec<String> = std::iter::once("provider")
        .chain(keys.iter().copied())
        .map(str::to_owned)
        .collect();
    providers.sort();
    context_keys.sort();
    vec![Grant {
        action: action.to_owned(),
        resource: "TokenKey".to_owned(),
        providers,
        context_keys,
    }]
}

/// What each function may do, reviewed by hand against the code paths of its binary. A
/// permission the template grants beyond this, or lacks, fails
/// `every_function_policy_matches_the_least_privilege_table`.
fn least_privilege(id: &str, binary: &str, env: &serde_yaml::Value) -> Vec<Grant> {
    let var = |name: &str| {
        env.get(name)
            .and_then(serde_yaml::Value::as_str)
            .unwrap_or_else(|| panic!("{id}: no {name}"))
            .to_owned()
    };
    let mut grants = Vec::new();
    match (binary, id) {
        ("webhook", _) => {
            let provider = var("SWITCHYARD_PROVIDER");
            let p = provider.as_str();
            grants.extend(allow(&["dynamodb:GetItem"], "InstancesTable"));
            grants.extend(allow(
                &["dynamodb:PutItem", "dynamodb:DeleteItem"],
                "DeliveriesTable",
            ));
            grants.extend(allow(&["s3:PutObject"], "PayloadBucket/payloads/*"));
            if let Some((_, reads_channels)) =
                SYNC_WEBHOOK_PROVIDERS.iter().find(|(id, _)| *id == p)
            {
                grants.extend(allow(&["sqs:SendMessage"], "SyncQueue"));
                if *reads_channels {
                    grants.extend(allow(&["dynamodb:GetItem"], "WatchesTable"));
                }
                return grants;
            }
            grants.extend(allow(&["sqs:SendMessage"], "IngressQueue"));
            // Its own provider's instance secrets; never OAuth tokens.
            grants.extend(kms("kms:Decrypt", &[p], &["instance_id"]));
            if VERIFICATION_TOKEN_PROVIDERS.contains(&p) {
                grants.extend(allow(&["dynamodb:UpdateItem"], "InstancesTable"));
                grants.extend(kms("kms:GenerateDataKey", &[p], &["instance_id"]));
                grants.extend(allow(&["dynamodb:PutItem"], "AuditTable"));
            }
        }
        ("consumer", "IngressConsumerFunction") => {
            grants.extend(allow(&["dynamodb:GetItem"], "InstancesTable"));
            // Messaging windows and opt-outs that deliveries record.
            grants.extend(allow(&["dynamodb:UpdateItem"], "ToolStateTable"));
            grants.extend(allow(
                &["dynamodb:Scan", "dynamodb:UpdateItem"],
                "ConnectionsTable",
            ));
            grants.extend(allow(
                &[
                    "dynamodb:UpdateItem",
                    "dynamodb:BatchWriteItem",
                    "dynamodb:GetItem",
                ],
                "DeliveriesTable",
            ));
            grants.extend(allow(&["s3:GetObject"], "PayloadBucket/payloads/*"));
            grants.extend(allow(&["s3:PutObject"], "PayloadBucket/payloads/events/*"));
            grants.extend(allow(&["events:PutEvents"], "AgentEventBus"));
            grants.extend(allow(&["sqs:SendMessage"], "JobsQueue"));
            // SendGrid's delivery statuses, appended to messages the email tools sent.
            grants.extend(allow(&["dynamodb:UpdateItem"], "MessagesTable"));
            grants.extend(allow(
                &[
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:ChangeMessageVisibility",
                ],
                "IngressQueue",
            ));
        }
        ("email-status", "EmailStatusFunction") => {
            grants.extend(allow(&["dynamodb:UpdateItem"], "MessagesTable"));
        }
        ("oauth", "OAuthStartFunction") => {
            grants.extend(allow(&["dynamodb:GetItem"], "InstancesTable"));
            grants.extend(allow(&["dynamodb:PutItem"], "OAuthStatesTable"));
            grants.extend(allow(
                &["secretsmanager:GetSecretValue"],
                "OAuthLinkKeySecret",
            ));
            grants.extend(kms(
                "kms:GenerateDataKey",
                OAUTH_PROVIDERS,
                &["oauth_state"],
            ));
        }
        ("oauth", "OAuthCallbackFunction") => {
            grants.extend(allow(&["dynamodb:GetItem"], "InstancesTable"));
            grants.extend(allow(&["dynamodb:UpdateItem"], "InstancesTable"));
            grants.extend(allow(&["dynamodb:DeleteItem"], "OAuthStatesTable"));
            grants.extend(allow(&["dynamodb:UpdateItem"], "ConnectionsTable"));
            grants.extend(allow(&["dynamodb:PutItem"], "AuditTable"));
            grants.extend(kms(
                "kms:Decrypt",
                OAUTH_PROVIDERS,
                &["instance_id", "oauth_state"],
            ));
            grants.extend(kms(
                "kms:GenerateDataKey",
                OAUTH_PROVIDERS,
                &["connection_id"],
            ));
        }
        ("token-refresher", "TokenRefreshFunction") => {
            grants.extend(allow(&["dynamodb:GetItem"], "InstancesTable"));
            grants.extend(allow(
                &["dynamodb:Scan", "dynamodb:GetItem", "dynamodb:UpdateItem"],
                "ConnectionsTable",
            ));
            grants.extend(allow(&["dynamodb:PutItem"], "AuditTable"));
            grants.extend(allow(&["events:PutEvents"], "AgentEventBus"));
            grants.extend(kms(
                "kms:Decrypt",
                OAUTH_PROVIDERS,
                &["instance_id", "connection_id"],
            ));
            grants.extend(kms(
                "kms:GenerateDataKey",
                OAUTH_PROVIDERS,
                &["connection_id"],
            ));
        }
        ("notion-poller", "NotionPollerFunction") => {
            grants.extend(allow(
                &["dynamodb:Scan", "dynamodb:GetItem"],
                "InstancesTable",
            ));
            grants.extend(allow(
                &["dynamodb:GetItem", "dynamodb:PutItem"],
                "CursorsTable",
            ));
            grants.extend(allow(
                &["dynamodb:PutItem", "dynamodb:DeleteItem"],
                "DeliveriesTable",
            ));
            grants.extend(allow(&["sqs:SendMessage"], "IngressQueue"));
            grants.extend(allow(&["s3:PutObject"], "PayloadBucket/payloads/*"));
            grants.extend(allow(&["dynamodb:PutItem"], "ReceiptsTable"));
            grants.extend(allow(
                &["dynamodb:GetItem", "dynamodb:UpdateItem"],
                "ConnectionsTable",
            ));
            grants.extend(allow(&["dynamodb:PutItem"], "AuditTable"));
            grants.extend(allow(&["dynamodb:UpdateItem"], "ToolStateTable"));
            grants.extend(allow(&["events:PutEvents"], "AgentEventBus"));
            grants.extend(kms(
                "kms:Decrypt",
                &["notion"],
                &["instance_id", "connection_id"],
            ));
            grants.extend(kms("kms:GenerateDataKey", &["notion"], &["connection_id"]));
        }
        ("shopify-bulk-sync", "ShopifyBulkSyncFunction") => {
            grants.extend(allow(
                &["dynamodb:Scan", "dynamodb:GetItem"],
                "InstancesTable",
            ));
            grants.extend(allow(
                &["dynamodb:GetItem", "dynamodb:PutItem"],
                "CursorsTable",
            ));
            grants.extend(allow(
                &["dynamodb:PutItem", "dynamodb:DeleteItem"],
                "DeliveriesTable",
            ));
            grants.extend(allow(&["sqs:SendMessage"], "IngressQueue"));
            grants.extend(allow(&["s3:PutObject"], "PayloadBucket/payloads/*"));
            grants.extend(allow(&["dynamodb:PutItem"], "ReceiptsTable"));
            grants.extend(allow(
                &["dynamodb:GetItem", "dynamodb:UpdateItem"],
                "ConnectionsTable",
            ));
            grants.extend(allow(&["dynamodb:PutItem"], "AuditTable"));
            grants.extend(allow(
                &[
                    "dynamodb:UpdateItem",
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                ],
                "ToolStateTable",
            ));
            grants.extend(allow(&["events:PutEvents"], "AgentEventBus"));
            grants.extend(kms(
                "kms:Decrypt",
                &["shopify"],
                &["instance_id", "connection_id"],
            ));
            grants.extend(kms("kms:GenerateDataKey", &["shopify"], &["connection_id"]));
        }
        ("google-sync" | "watch-renewer", "GoogleSyncFunction" | "WatchRenewerFunction") => {
            let renewer = binary == "watch-renewer";
            grants.extend(allow(&["dynamodb:GetItem"], "InstancesTable"));
            let watch_actions: &[&str] = if renewer {
                &[
                    "dynamodb:Scan",
                    "dynamodb:GetItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:PutItem",
                    "dynamodb:DeleteItem",
                ]
            } else {
                &["dynamodb:GetItem", "dynamodb:Scan", "dynamodb:UpdateItem"]
            };
            grants.extend(allow(watch_actions, "WatchesTable"));
            grants.extend(allow(
                &["dynamodb:GetItem", "dynamodb:PutItem"],
                "CursorsTable",
            ));
            grants.extend(allow(
                &["dynamodb:PutItem", "dynamodb:DeleteItem"],
                "DeliveriesTable",
            ));
            grants.extend(allow(&["sqs:SendMessage"], "IngressQueue"));
            grants.extend(allow(&["s3:PutObject"], "PayloadBucket/payloads/*"));
            grants.extend(allow(&["dynamodb:PutItem"], "ReceiptsTable"));
            grants.extend(allow(
                &["dynamodb:GetItem", "dynamodb:UpdateItem"],
                "ConnectionsTable",
            ));
            grants.extend(allow(&["dynamodb:PutItem"], "AuditTable"));
            grants.extend(allow(&["dynamodb:UpdateItem"], "ToolStateTable"));
            grants.extend(allow(&["events:PutEvents"], "AgentEventBus"));
            grants.extend(kms(
                "kms:Decrypt",
                &["google"],
                &["instance_id", "connection_id"],
            ));
            grants.extend(kms("kms:GenerateDataKey", &["google"], &["connection_id"]));
            if !renewer {
                grants.extend(allow(
                    &[
                        "sqs:ReceiveMessage",
                        "sqs:DeleteMessage",
                        "sqs:GetQueueAttributes",
                        "sqs:ChangeMessageVisibility",
                    ],
                    "SyncQueue",
                ));
            }
        }
        ("retention", "RetentionFunction") => {
            grants.extend(allow(&["dynamodb:Scan"], "WorkspaceSettingsTable"));
            grants.extend(allow(&["dynamodb:GetItem"], "InstancesTable"));
            grants.extend(allow(
                &["dynamodb:Scan", "dynamodb:DeleteItem"],
                "ArtifactsTable",
            ));
            grants.extend(allow(&["s3:DeleteObject"], "ArtifactsBucket/artifacts/*"));
            grants.extend(allow(
                &["s3:ListBucket"],
                "PayloadBucket?prefix=payloads/by-instance/*",
            ));
            grants.extend(allow(
                &["s3:DeleteObject"],
                "PayloadBucket/payloads/by-instance/*",
            ));
            grants.extend(allow(
                &["dynamodb:Scan", "dynamodb:DeleteItem"],
                "ReceiptsTable",
            ));
            grants.extend(allow(&["dynamodb:PutItem"], "AuditTable"));
        }
        ("ws-connect", "WsConnectFunction") => {
            grants.extend(allow(&["dynamodb:GetItem"], "AgentsTable"));
            grants.extend(allow(
                &[
                    "dynamodb:PutItem",
                    "dynamodb:GetItem",
                    "dynamodb:DeleteItem",
                ],
                "LiveConnectionsTable",
            ));
        }
        ("dashboard", "DashboardFunction") => {
            // Read-only: bounded scans of the listings, operator token lookups, the DLQ's
            // depth and the key that signs session cookies. No write anywhere.
            grants.extend(allow(&["dynamodb:Scan"], "InstancesTable"));
            for table in [
                "ConnectionsTable",
                "WatchesTable",
                "ApprovalsTable",
                "ReceiptsTable",
                "ToolStateTable",
            ] {
                grants.extend(allow(&["dynamodb:Scan"], table));
            }
            grants.extend(allow(&["dynamodb:GetItem"], "AgentsTable"));
            grants.extend(allow(&["sqs:GetQueueAttributes"], "IngressDLQ"));
            grants.extend(allow(
                &["secretsmanager:GetSecretValue"],
                "OAuthLinkKeySecret",
            ));
        }
        ("ws-fanout", "WsFanoutFunction") => {
            grants.extend(allow(&["dynamodb:GetItem"], "InstancesTable"));
            grants.extend(allow(
                &["dynamodb:Query", "dynamodb:DeleteItem"],
                "LiveConnectionsTable",
            ));
            grants.extend(allow(
                &["execute-api:ManageConnections"],
                "WsApi/live/POST/@connections/*",
            ));
        }
        ("mcp", "McpFunction") => {
            // Every tool an agent may call over MCP: the tool functions' grants merged per
            // statement (one KMS statement per kind of envelope, naming every provider), plus
            // discovery's grant index (never a scan of the instances).
            let providers: std::collections::BTreeSet<&str> =
                INTEGRATION_PROVIDERS.iter().map(|(_, p)| *p).collect();
            let (oauth, plain): (Vec<&str>, Vec<&str>) =
                providers.iter().partition(|p| OAUTH_PROVIDERS.contains(p));
            grants.extend(allow(&["dynamodb:GetItem"], "InstancesTable"));
            grants.extend(allow(
                &["dynamodb:GetItem", "dynamodb:Query"],
                "AgentsTable",
            ));
            grants.extend(allow(
                &[
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                ],
                "ToolStateTable",
            ));
            grants.extend(allow(&["dynamodb:PutItem"], "ReceiptsTable"));
            grants.extend(allow(&["events:PutEvents"], "AgentEventBus"));
            // Gated calls wait in the approvals table; background media calls go to the worker.
            grants.extend(allow(
                &["dynamodb:GetItem", "dynamodb:PutItem"],
                "ApprovalsTable",
            ));
            grants.extend(allow(&["dynamodb:PutItem"], "JobsTable"));
            grants.extend(allow(&["sqs:SendMessage"], "JobsQueue"));
            grants.extend(allow(
                &["dynamodb:GetItem", "dynamodb:UpdateItem"],
                "ConnectionsTable",
            ));
            grants.extend(allow(&["dynamodb:PutItem"], "AuditTable"));
            grants.extend(allow(
                &["secretsmanager:GetSecretValue"],
                "OAuthLinkKeySecret",
            ));
            grants.extend(kms("kms:Decrypt", &plain, &["instance_id"]));
            grants.extend(kms(
                "kms:Decrypt",
                &oauth,
                &["instance_id", "connection_id"],
            ));
            grants.extend(kms("kms:GenerateDataKey", &oauth, &["connection_id"]));
            let mut keys: Vec<&str> = API_KEY_INTEGRATIONS
                .iter()
                .flat_map(|(_, k)| k.iter().copied())
                .chain(["elevenlabs", "openai"])
                .collect();
            keys.sort_unstable();
            keys.dedup();
            grants.extend(allow(
                &["secretsmanager:GetSecretValue"],
                "PlatformKeysSecret",
            ));
            grants.extend(kms("kms:Decrypt", &keys, &["connection_id"]));
            grants.extend(allow(
                &["s3:PutObject", "s3:GetObject"],
                "ArtifactsBucket/artifacts/*",
            ));
            grants.extend(allow(
                &["dynamodb:GetItem", "dynamodb:PutItem"],
                "ArtifactsTable",
            ));
            grants.extend(email_grants());
        }
        ("media-worker", "MediaWorkerFunction") => {
            grants.extend(allow(&["dynamodb:GetItem"], "InstancesTable"));
            grants.extend(email_grants());
            grants.extend(allow(
                &["dynamodb:GetItem", "dynamodb:UpdateItem"],
                "JobsTable",
            ));
            grants.extend(allow(
                &["dynamodb:GetItem", "dynamodb:UpdateItem"],
                "ApprovalsTable",
            ));
            grants.extend(allow(
                &[
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                ],
                "ToolStateTable",
            ));
            grants.extend(allow(&["dynamodb:PutItem"], "ReceiptsTable"));
            grants.extend(allow(
                &["dynamodb:GetItem", "dynamodb:UpdateItem"],
                "ConnectionsTable",
            ));
            grants.extend(allow(&["dynamodb:PutItem"], "AuditTable"));
            grants.extend(allow(
                &["secretsmanager:GetSecretValue"],
                "PlatformKeysSecret",
            ));
            grants.extend(allow(
                &["secretsmanager:GetSecretValue"],
                "OAuthLinkKeySecret",
            ));
            // Approved calls of any integration and media jobs: every tool's credentials.
            let mut providers: Vec<&str> = OAUTH_PROVIDERS.to_vec();
            providers.extend([
                "anthropic",
                "deepseek",
                "elevenlabs",
                "http",
                "llm",
                "media",
                "openai",
                "pinecone",
            ]);
            grants.extend(kms(
                "kms:Decrypt",
                &providers,
                &["instance_id", "connection_id"],
            ));
            grants.extend(kms(
                "kms:GenerateDataKey",
                OAUTH_PROVIDERS,
                &["connection_id"],
            ));
            grants.extend(allow(
                &["s3:PutObject", "s3:GetObject"],
                "ArtifactsBucket/artifacts/*",
            ));
            grants.extend(allow(
                &["dynamodb:GetItem", "dynamodb:PutItem"],
                "ArtifactsTable",
            ));
            grants.extend(allow(&["events:PutEvents"], "AgentEventBus"));
            grants.extend(allow(
                &[
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:ChangeMessageVisibility",
                ],
                "JobsQueue",
            ));
        }
        ("sessions", "SessionsFunction") => {
            // Authentication and discovery (for renders) as the discovery function, plus the
            // sessions by key: no scan, no delete (checkpoints are append-only).
            grants.extend(allow(&["dynamodb:GetItem"], "InstancesTable"));
            grants.extend(allow(
                &["dynamodb:GetItem", "dynamodb:Query"],
                "AgentsTable",
            ));
            grants.extend(allow(&["dynamodb:GetItem"], "ToolStateTable"));
            grants.extend(allow(
                &[
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                ],
                "SessionsTable",
            ));
        }
        ("intents", "IntentsFunction") => {
            // Authentication and the call's checks (instances, grants); intents by key and by
            // the agent's partition (never a scan); the group's schedules and passing the
            // scheduler role, nothing else.
            grants.extend(allow(&["dynamodb:GetItem"], "InstancesTable"));
            grants.extend(allow(&["dynamodb:GetItem"], "AgentsTable"));
            grants.extend(allow(
                &["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
                "IntentsTable",
            ));
            grants.extend(allow(
                &[
                    "scheduler:CreateSchedule",
                    "scheduler:DeleteSchedule",
                    "scheduler:GetSchedule",
                ],
                "IntentsScheduleGroup/*",
            ));
            grants.extend(allow(&["iam:PassRole"], "IntentsSchedulerRole"));
        }
        ("intents-worker", "IntentsWorkerFunction") => {
            // Every tool an agent may schedule: the MCP function's union, without discovery's
            // grant index; plus the claim and outcome of intents by key, and retry schedules.
            grants = least_privilege("McpFunction", "mcp", env)
                .into_iter()
                .filter(|g| !(g.resource == "AgentsTable" && g.action == "dynamodb:Query"))
                .collect();
            grants.extend(allow(
                &["dynamodb:GetItem", "dynamodb:PutItem"],
                "IntentsTable",
            ));
            grants.extend(allow(
                &["scheduler:CreateSchedule"],
                "IntentsScheduleGroup/*",
            ));
            grants.extend(allow(&["iam:PassRole"], "IntentsSchedulerRole"));
        }
        ("tool", "ToolDiscoveryFunction") => {
            // The grant index (a query of the agent's partition), then each instance by key:
            // never a scan of the instances table.
            grants.extend(allow(&["dynamodb:GetItem"], "InstancesTable"));
            grants.extend(allow(
                &["dynamodb:GetItem", "dynamodb:Query"],
                "AgentsTable",
            ));
            grants.extend(allow(&["dynamodb:GetItem"], "ToolStateTable"));
        }
        ("tool", _) => {
            let tool = var("SWITCHYARD_TOOL");
            let integration = tool.split('.').next().unwrap_or_default();
            let p = INTEGRATION_PROVIDERS
                .iter()
                .find(|(i, _)| *i == integration)
                .map(|(_, p)| *p)
                .unwrap_or_else(|| panic!("{id}: integration {integration} is not in the table"));
            grants.extend(allow(&["dynamodb:GetItem"], "InstancesTable"));
            // Authentication only: token hashes, IAM principals, `may_act_for_users`.
            grants.extend(allow(&["dynamodb:GetItem"], "AgentsTable"));
            grants.extend(allow(
                &[
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                ],
                "ToolStateTable",
            ));
            grants.extend(allow(&["dynamodb:PutItem"], "ReceiptsTable"));
            grants.extend(allow(&["events:PutEvents"], "AgentEventBus"));
            grants.extend(allow(
                &["dynamodb:GetItem", "dynamodb:PutItem"],
                "ApprovalsTable",
            ));
            if OAUTH_PROVIDERS.contains(&p) {
                grants.extend(allow(
                    &["dynamodb:GetItem", "dynamodb:UpdateItem"],
                    "ConnectionsTable",
                ));
                grants.extend(allow(&["dynamodb:PutItem"], "AuditTable"));
                // The connect link of `connection_required` (per-user connections).
                grants.extend(allow(
                    &["secretsmanager:GetSecretValue"],
                    "OAuthLinkKeySecret",
                ));
                grants.extend(kms("kms:Decrypt", &[p], &["instance_id", "connection_id"]));
                grants.extend(kms("kms:GenerateDataKey", &[p], &["connection_id"]));
            } else {
                grants.extend(kms("kms:Decrypt", &[p], &["instance_id"]));
            }
            if let Some((_, keys)) = API_KEY_INTEGRATIONS.iter().find(|(i, _)| *i == integration) {
                grants.extend(allow(
                    &["secretsmanager:GetSecretValue"],
                    "PlatformKeysSecret",
                ));
                grants.extend(allow(&["dynamodb:GetItem"], "ConnectionsTable"));
                grants.extend(kms("kms:Decrypt", keys, &["connection_id"]));
            }
            // Email: SES sends from the account's identities with the stack's configuration
            // set, and each accepted message goes to the message log.
            if integration == "email" {
                grants.extend(email_grants());
            }
            // Image artifacts for vision, text artifacts for the knowledge base: read only.
            if tool == "kb.ingest" || tool == "llm.analyze_image" || tool == "whatsapp.media_upload"
            {
                grants.extend(allow(&["dynamodb:GetItem"], "ArtifactsTable"));
                grants.extend(allow(&["s3:GetObject"], "ArtifactsBucket/artifacts/*"));
            }
            // kb.ingest reads a Google Doc with docs.get_document in process: Google's
            // connection (refresh lease, rotated tokens sealed again) and its audit.
            if tool == "kb.ingest" {
                grants.extend(allow(
                    &["dynamodb:GetItem", "dynamodb:UpdateItem"],
                    "ConnectionsTable",
                ));
                grants.extend(allow(&["dynamodb:PutItem"], "AuditTable"));
                grants.extend(kms(
                    "kms:Decrypt",
                    &["google"],
                    &["instance_id", "connection_id"],
                ));
                grants.extend(kms("kms:GenerateDataKey", &["google"], &["connection_id"]));
                // The connect link of a `connection_required` answer for the Doc's reader.
                grants.extend(allow(
                    &["secretsmanager:GetSecretValue"],
                    "OAuthLinkKeySecret",
                ));
            }
            if integration == "media" {
                // Platform keys, or a workspace's own key (a sealed vault connection).
                grants.extend(allow(
                    &["secretsmanager:GetSecretValue"],
                    "PlatformKeysSecret",
                ));
                grants.extend(allow(&["dynamodb:GetItem"], "ConnectionsTable"));
                grants.extend(kms(
                    "kms:Decrypt",
                    &["elevenlabs", "openai"],
                    &["connection_id"],
                ));
                // Artifacts: the object (read too: presigned URLs act as the role), then metadata.
                grants.extend(allow(
                    &["s3:PutObject", "s3:GetObject"],
                    "ArtifactsBucket/artifacts/*",
                ));
                grants.extend(allow(&["dynamodb:PutItem"], "ArtifactsTable"));
                // A background call: the job record and the worker's message.
                grants.extend(allow(&["dynamodb:PutItem"], "JobsTable"));
                grants.extend(allow(&["sqs:SendMessage"], "JobsQueue"));
                if tool == "media.transcribe_audio" {
                    grants.extend(allow(&["dynamodb:GetItem"], "ArtifactsTable"));
                    grants.extend(kms("kms:Decrypt", &["slack"], &["instance_id"]));
                }
            }
        }
        _ => panic!("{id} ({binary}) is not in the least-privilege table"),
    }
    grants
}

/// The start of an `execute-api` ARN of an API of the template, up to its `${Api}` reference.
const EXECUTE_API_ARN: &str =
    "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${";

/// The start of an SES ARN of the stack's account and region.
const SES_ARN: &str = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:";
/// The start of the ARN of a schedule group's schedules, up to the group's `${Group}` reference.
const SCHEDULES_ARN: &str =
    "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${";

/// `!GetAtt X.Arn` -> `X`; `!Sub ${X.Arn}/path` -> `X/path`; `!Ref X` -> `X`.
fn resource_name(value: &serde_yaml::Value) -> String {
    let serde_yaml::Value::Tagged(tagged) = value else {
        panic!("resource {value:?} is not a reference to a template resource");
    };
    let text = tagged
        .value
        .as_str()
        .unwrap_or_else(|| panic!("resource {value:?}"));
    match tagged.tag.to_string().as_str() {
        "!GetAtt" => text
            .strip_suffix(".Arn")
            .unwrap_or_else(|| panic!("{text}: not an ARN"))
            .to_owned(),
        "!Ref" => text.to_owned(),
        // A schedule group's schedules: `!Sub arn:…:scheduler:…:schedule/${Group}/*` ->
        // `Group/*`.
        "!Sub" if text.starts_with(SCHEDULES_ARN) => {
            let rest = &text[SCHEDULES_ARN.len()..];
            let (group, path) = rest.split_once('}').unwrap_or_else(|| panic!("{text}"));
            format!("{group}{path}")
        }
        // An API's own ARN: `!Sub arn:…:execute-api:…:${Api}/path` -> `Api/path`.
        // SES identities and configuration sets: `ses:identity/*`, `ses:configuration-set/X`.
        "!Sub" if text.starts_with(SES_ARN) => {
            format!(
                "ses:{}",
                text[SES_ARN.len()..].replace("${", "").replace('}', "")
            )
        }
        "!Sub" if text.starts_with(EXECUTE_API_ARN) => {
            let rest = &text[EXECUTE_API_ARN.len()..];
            let (api, path) = rest.split_once('}').unwrap_or_else(|| panic!("{text}"));
            format!("{api}{path}")
        }
        "!Sub" => {
            let rest = text
                .strip_prefix("${")
                .unwrap_or_else(|| panic!("{text}: not ${{X.Arn}}/..."));
            let (arn, path) = rest.split_once('}').unwrap_or_else(|| panic!("{text}"));
            format!(
                "{}{path}",
                arn.strip_suffix(".Arn")
                    .unwrap_or_else(|| panic!("{text}: not an ARN"))
            )
        }
        other => panic!("resource {text}: unexpected tag {other}"),
    }
}

fn strings(value: &serde_yaml::Value) -> Vec<String> {
    match value {
        serde_yaml::Value::String(s) => vec![s.clone()],
        serde_yaml::Value::Sequence(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .unwrap_or_else(|| panic!("{v:?} is not a string"))
                    .to_owned()
            })
            .collect(),
        other => panic!("{other:?} is neither a string nor a list"),
    }
}

/// Every permission the function's `Policies` grant, after checking they are inline statements
/// only (no SAM policy template, managed policy or `Role`: those grant what this test cannot see).
fn granted(id: &str, properties: &serde_yaml::Value) -> Vec<Grant> {
    assert!(
        properties.get("Role").is_none(),
        "{id}: an explicit Role escapes this check"
    );
    let policies = properties["Policies"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{id}: Policies must be a list of inline policy documents"));
    let mut grants = Vec::new();
    for policy in policies {
        let statements = policy
            .get("Statement")
            .and_then(serde_yaml::Value::as_sequence)
            .unwrap_or_else(|| {
                panic!("{id}: {policy:?} is not an inline policy document (SAM policy templates and managed policies grant more than this table sees)")
            });
        for statement in statements {
            let sid = statement["Sid"].as_str().unwrap_or("(no Sid)");
            let known = ["Sid", "Effect", "Action", "Resource", "Condition"];
            for key in statement.as_mapping().expect("statement").keys() {
                let key = key.as_str().unwrap_or_default();
                assert!(known.contains(&key), "{id}/{sid}: {key} is not allowed");
            }
            assert_eq!(statement["Effect"], "Allow", "{id}/{sid}");
            let (mut providers, mut context_keys) = (Vec::new(), Vec::new());
            // An S3 listing limited to a prefix: the grant reads `Bucket?prefix=<pattern>`.
            let mut prefix = None;
            if let Some(condition) = statement.get("Condition") {
                for (operator, tests) in condition.as_mapping().expect("Condition") {
                    for (key, value) in tests.as_mapping().expect("condition tests") {
                        match (
                            operator.as_str().unwrap_or_default(),
                            key.as_str().unwrap_or_default(),
                        ) {
                            ("StringEquals", "kms:EncryptionContext:provider") => {
                                providers = strings(value);
                            }
                            ("ForAllValues:StringEquals", "kms:EncryptionContextKeys") => {
                                context_keys = strings(value);
                            }
                            ("StringLike", "s3:prefix") => prefix = Some(strings(value).join(",")),
                            (op, k) => panic!("{id}/{sid}: unexpected condition {op} {k}"),
                        }
                    }
                }
            }
            providers.sort();
            context_keys.sort();
            let resources = match &statement["Resource"] {
                serde_yaml::Value::Sequence(items) => items.iter().map(resource_name).collect(),
                one => vec![resource_name(one)],
            };
            let resources: Vec<String> = match &prefix {
                Some(p) => resources
                    .iter()
                    .map(|r| format!("{r}?prefix={p}"))
                    .collect(),
                None => resources,
            };
            for action in strings(&statement["Action"]) {
                for resource in &resources {
                    grants.push(Grant {
                        action: action.clone(),
                        resource: resource.clone(),
                        providers: providers.clone(),
                        context_keys: context_keys.clone(),
                    });
                }
            }
        }
    }
    grants
}

/// Every function's role grants exactly what the table above allows it: each action on each
/// table, queue, bucket path and bus it uses, and KMS only for envelopes of its own provider(s)
/// with the context keys it seals or opens. No event source may make SAM attach a managed
/// policy (an `SQS` event attaches AWSLambdaSQSQueueExecutionRole: every queue of the account).
#[test]
fn every_function_policy_matches_the_least_privilege_table() {
    use std::collections::BTreeSet;
    let registry = switchyard::providers::Registry::load().expect("provider definitions");
    let oauth: BTreeSet<&str> = registry
        .ids()
        .filter(|p| registry.get(p).is_some_and(|d| d.oauth.is_some()))
        .collect();
    assert_eq!(
        oauth,
        OAUTH_PROVIDERS.iter().copied().collect(),
        "OAUTH_PROVIDERS is out of date: review what the new provider's functions may decrypt"
    );
    let sync: BTreeSet<&str> = registry
        .webhook_ids()
        .filter(|p| {
            registry
                .get(p)
                .and_then(|d| d.webhook.as_ref())
                .is_some_and(|w| w.queue == switchyard::providers::WebhookQueue::Sync)
        })
        .collect();
    assert_eq!(
        sync,
        SYNC_WEBHOOK_PROVIDERS.iter().map(|(p, _)| *p).collect(),
        "SYNC_WEBHOOK_PROVIDERS is out of date: review the new provider's webhook grants"
    );

    let text = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
    let template: serde_yaml::Value = serde_yaml::from_str(&text).expect("template parses");
    let resources = template["Resources"].as_mapping().expect("Resources");
    let mut problems = Vec::new();
    let mut checked = 0;
    for (id, resource) in resources {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let id = id.as_str().unwrap_or_default();
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} names no binary"));
        let properties = &resource["Properties"];
        if let Some(events) = properties.get("Events").and_then(|e| e.as_mapping()) {
            for (name, event) in events {
                let kind = event["Type"].as_str().unwrap_or_default();
                if !["HttpApi", "Schedule"].contains(&kind) {
                    problems.push(format!(
                        "{id}: event {name:?} of type {kind} makes SAM attach a managed policy"
                    ));
                }
            }
        }
        let wanted: BTreeSet<Grant> =
            least_privilege(id, binary, &properties["Environment"]["Variables"])
                .into_iter()
                .collect();
        let given: BTreeSet<Grant> = granted(id, properties).into_iter().collect();
        for extra in given.difference(&wanted) {
            problems.push(format!("{id}: grants more than the table: {extra:?}"));
        }
        for missing in wanted.difference(&given) {
            problems.push(format!("{id}: lacks {missing:?}"));
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} functions");

    // The consumer still drains the ingress queue: through an explicit event source mapping.
    let mapped = resources.values().any(|r| {
        r["Type"] == "AWS::Lambda::EventSourceMapping"
            && resource_name(&r["Properties"]["EventSourceArn"]) == "IngressQueue"
            && resource_name(&r["Properties"]["FunctionName"]) == "IngressConsumerFunction"
    });
    if !mapped {
        problems
            .push("no event source mapping from IngressQueue to IngressConsumerFunction".into());
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The OAuth routes are public: the start route refuses unsigned links after one cached HMAC,
/// and API Gateway caps how often anyone can make it (or the callback) even do that.
#[test]
fn the_public_oauth_routes_are_throttled() {
    let text = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
    let template: serde_yaml::Value = serde_yaml::from_str(&text).expect("template parses");
    for (function, event) in [
        ("OAuthStartFunction", "Start"),
        ("OAuthCallbackFunction", "Callback"),
    ] {
        let settings = &template["Resources"][function]["Properties"]["Events"][event]
            ["Properties"]["RouteSettings"];
        let burst = settings["ThrottlingBurstLimit"].as_u64();
        let rate = settings["ThrottlingRateLimit"].as_f64();
        assert!(
            burst.is_some_and(|b| (1..=100).contains(&b)),
            "{function}: burst {burst:?}"
        );
        assert!(
            rate.is_some_and(|r| r > 0.0 && r <= 50.0),
            "{function}: rate {rate:?}"
        );
    }
}
