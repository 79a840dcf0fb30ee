#!/usr/bin/env python3
"""Generates the repetitive parts of template.yaml from the definitions.

    python3 infra/gen_template.py            rewrite template.yaml in place (make template)
    python3 infra/gen_template.py --check    exit 1 if template.yaml differs from what would be
                                             generated (run by the test suite)

Only the regions between marker comments are rewritten; every other byte of the template is
left as it is:

    # >>> generated: <region> (infra/gen_template.py; do not edit)
    ...
    # <<< generated: <region>

Regions (each must appear exactly once):

  webhook functions    one `<Pascal>WebhookFunction` per provider file shared/providers/*.yaml with
                       a top-level `webhook:` key: binary `webhook`, SWITCHYARD_PROVIDER=<id>,
                       `POST /webhooks/<id>/{instance_id}`, plus `GET` on the same path when
                       `webhook.handshakes` has an entry of `kind: hub-challenge` (Meta's
                       verification handshake), and the IAM statements of the
                       `verification-token` handshake (Notion) only where it is declared.
                       `webhook.queue: sync` sends to SyncQueue instead of IngressQueue; the
                       `oidc-jwt` and `watched-channel` schemes read no sealed secrets (no KMS, no
                       audit), and `watched-channel` reads its channels from WatchesTable.
  webhook log groups   `<Pascal>WebhookLogGroup` for each of those functions.
  webhook outputs      `<Pascal>WebhookUrl` for each of those functions.
  tool functions       one `Tool<Integration><Method>Function` per method of
                       shared/integrations/*.json: binary `tool`, SWITCHYARD_TOOL=<integration>.<method>,
                       `POST /tools/<integration>/<method>` with IAM auth. Integrations marked
                       `x-switchyard.internal: true` (worker-only calls) get none.

Each generated function carries the resource variables its binary needs (NEEDS, mirroring
switchyard::config::needs) in its own Environment.

KMS grants are conditioned on the encryption context switchyard::crypto seals with
(`provider=<id>` plus `instance_id`, `connection_id`): a webhook function may only decrypt
(`instance_id` envelopes of) the provider whose instances it serves (its own, or `instances_of`); a tool function only its integration's provider
(`x-switchyard.provider`), with `connection_id` envelopes (decrypt, and seal refreshed tokens)
only when that provider has an `oauth:` section. tests/e2e/template.rs holds every function's
policy to a least-privilege table.

Files are read in file-name order. Stdlib + PyYAML (in the venv: make template uses it).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
STALE = "template.yaml is stale: run make template"

BEGIN = re.compile(r"^(?P<indent>[ ]*)# >>> generated: (?P<name>[a-z][a-z ]*?)\s*(?:\(.*\))?\s*$")
END = re.compile(r"^[ ]*# <<< generated: (?P<name>[a-z][a-z ]*?)\s*$")
BEGIN_LINE = "# >>> generated: {name} (infra/gen_template.py; do not edit)"

# Provider and integration ids become API path segments, environment values and (PascalCased)
# logical ids, so they are kept to this alphabet.
ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class DefinitionError(Exception):
    """A definition file the template cannot be generated from."""


# ---------------------------------------------------------------- definitions


def pascal(identifier: str) -> str:
    """`standard-webhooks` -> `StandardWebhooks`, `post_message` -> `PostMessage`."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", identifier) if part)


def scalar(value: str) -> str:
    """`value` as a YAML scalar: plain when that reads back as the same string, else quoted."""
    plain_ok = (
        value == value.strip()
        and value != ""
        and not value.startswith(("!", "&", "*", "'", '"', "%", "@", "`", "|", ">", "#", "-", "?", ":", "[", "{"))
        and ": " not in value
        and " #" not in value
        and "\n" not in value
    )
    if plain_ok:
        try:
            if yaml.safe_load(value) == value:
                return value
        except yaml.YAMLError:
            pass
    return json.dumps(value, ensure_ascii=False)


def provider_files(root: Path) -> list[tuple[Path, object]]:
    """Every provider definition file, parsed, by file name: (path relative to root, document)."""
    found = []
    for path in sorted((root / "shared/providers").glob("*.yaml")):
        rel = path.relative_to(root)
        try:
            found.append((rel, yaml.safe_load(path.read_text(encoding="utf-8"))))
        except yaml.YAMLError as e:
            raise DefinitionError(f"{rel}: not valid YAML: {e}") from e
    return found


def webhook_providers(root: Path) -> list[dict]:
    """Providers with a `webhook:` section, by file name."""
    found = []
    for rel, doc in provider_files(root):
        if not isinstance(doc, dict) or "webhook" not in doc:
            continue
        pid, name = doc.get("id"), doc.get("name")
        if not isinstance(pid, str) or not ID.match(pid):
            raise DefinitionError(f"{rel}: id {pid!r} must match {ID.pattern}")
        if not isinstance(name, str) or not name.strip():
            raise DefinitionError(f"{rel}: name is required")
        webhook = doc["webhook"] or {}
        if not isinstance(webhook, dict):
            raise DefinitionError(f"{rel}: webhook must be a mapping")
        handshakes = webhook.get("handshakes") or []
        if not isinstance(handshakes, list):
            raise DefinitionError(f"{rel}: webhook.handshakes must be a list")
        kinds = [h.get("kind") if isinstance(h, dict) else h for h in handshakes]
        queue = webhook.get("queue", "ingress")
        if queue not in QUEUES:
            raise DefinitionError(f"{rel}: webhook.queue {queue!r} must be one of {', '.join(QUEUES)}")
        signature = webhook.get("signature") or {}
        scheme = signature.get("scheme") if isinstance(signature, dict) else None
        instances_of = doc.get("instances_of", pid)
        if not isinstance(instances_of, str) or not ID.match(instances_of):
            raise DefinitionError(f"{rel}: instances_of {instances_of!r} must match {ID.pattern}")
        found.append(
            {
                "id": pid,
                "name": name.strip(),
                "pascal": pascal(pid),
                "hub_challenge": "hub-challenge" in kinds,
                "verification_token": "verification-token" in kinds,
                "queue": queue,
                "sealed_secrets": scheme not in FETCHED_SCHEMES,
                "watched_channel": scheme == "watched-channel",
                "instances_of": instances_of,
                "file": str(rel),
            }
        )
    return found


# `webhook.queue` values and the queue each names (the Enqueue grant and the URL variable).
QUEUES = {
    "ingress": ("SWITCHYARD_INGRESS_QUEUE_URL", "IngressQueue"),
    "sync": ("SWITCHYARD_SYNC_QUEUE_URL", "SyncQueue"),
}
# Signature schemes checked against fetched material (a public key set, stored channels), not
# instance secrets: their functions get no KMS grant (switchyard SignatureDef::reads_sealed_secrets).
FETCHED_SCHEMES = ("oidc-jwt", "watched-channel")


def provider_definitions(root: Path) -> dict[str, dict]:
    """Every provider definition, by id."""
    return {
        doc["id"]: doc
        for _, doc in provider_files(root)
        if isinstance(doc, dict) and isinstance(doc.get("id"), str)
    }


# Data beside the definitions that is not one: the price table (switchyard_tools::prices).
NOT_DEFINITIONS = {"prices.json"}


def tool_methods(root: Path) -> list[dict]:
    """Every method of every integration definition, by file name, then as listed."""
    found = []
    for path in sorted((root / "shared/integrations").glob("*.json")):
        if path.name in NOT_DEFINITIONS:
            continue
        rel = path.relative_to(root)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise DefinitionError(f"{rel}: not valid JSON: {e}") from e
        iid = doc.get("integrationId") if isinstance(doc, dict) else None
        if not isinstance(iid, str) or not ID.match(iid):
            raise DefinitionError(f"{rel}: integrationId {iid!r} must match {ID.pattern}")
        methods = doc.get("methods")
        if not isinstance(methods, list) or not methods:
            raise DefinitionError(f"{rel}: no methods")
        exec_ = doc.get("x-switchyard") if isinstance(doc.get("x-switchyard"), dict) else {}
        if exec_.get("internal") is True:
            # Called only by the gateway's workers (`call_for_worker`): no tool function.
            continue
        provider = exec_.get("provider")
        providers = provider_definitions(root)
        if not isinstance(provider, str) or provider not in providers:
            raise DefinitionError(f"{rel}: x-switchyard.provider {provider!r} names no provider definition")
        oauth = isinstance(providers[provider], dict) and "oauth" in providers[provider]
        # AI integrations call providers with API keys (aiConfig.x-providers[].keyName).
        ai = doc.get("aiConfig") if isinstance(doc.get("aiConfig"), dict) else {}
        api_keys = sorted({p["keyName"] for p in ai.get("x-providers", []) if isinstance(p, dict) and isinstance(p.get("keyName"), str)})
        # Integrations without an aiConfig that still call providers with API keys (Pinecone, and
        # the knowledge base's embeddings) list them as `x-switchyard.apiKeys`.
        extra_keys = exec_.get("apiKeys", [])
        if not isinstance(extra_keys, list) or not all(isinstance(k, str) for k in extra_keys):
            raise DefinitionError(f"{rel}: x-switchyard.apiKeys must be a list of key names")
        api_keys = sorted(set(api_keys) | set(extra_keys))
        for method in methods:
            mid = method.get("id") if isinstance(method, dict) else None
            if not isinstance(mid, str) or not ID.match(mid):
                raise DefinitionError(f"{rel}: method id {mid!r} must match {ID.pattern}")
            name = method.get("name")
            if not isinstance(name, str) or not name.strip():
                raise DefinitionError(f"{rel}: method {mid}: name is required")
            found.append(
                {
                    "integration": iid,
                    "method": mid,
                    "tool_id": f"{iid}.{mid}",
                    "name": name.strip(),
                    "logical_id": f"Tool{pascal(iid)}{pascal(mid)}Function",
                    "provider": provider,
                    "oauth": oauth,
                    "api_keys": api_keys,
                    "file": str(rel),
                }
            )
    return found


# ---------------------------------------------------------------- resources per binary

# The resource variables each generated function is given, in its own entry (none come from
# Globals): `switchyard::config::needs::WEBHOOK` and `::TOOL`, with the logical id each variable
# names. tests/e2e/template.rs holds every function of the template to its binary's needs list,
# so a change there that is not mirrored here fails `make test`.
NEEDS = {
    "webhook": [
        ("SWITCHYARD_INSTANCES_TABLE", "InstancesTable"),
        ("SWITCHYARD_DELIVERIES_TABLE", "DeliveriesTable"),
        ("SWITCHYARD_INGRESS_QUEUE_URL", "IngressQueue"),
        ("SWITCHYARD_PAYLOAD_BUCKET", "PayloadBucket"),
        ("SWITCHYARD_KMS_KEY_ID", "TokenKey"),
        ("SWITCHYARD_AUDIT_TABLE", "AuditTable"),
    ],
    "tool": [
        ("SWITCHYARD_INSTANCES_TABLE", "InstancesTable"),
        ("SWITCHYARD_KMS_KEY_ID", "TokenKey"),
        ("SWITCHYARD_CONNECTIONS_TABLE", "ConnectionsTable"),
        ("SWITCHYARD_AUDIT_TABLE", "AuditTable"),
        ("SWITCHYARD_EVENT_BUS", "AgentEventBus"),
        ("SWITCHYARD_TOOL_STATE_TABLE", "ToolStateTable"),
        ("SWITCHYARD_RECEIPTS_TABLE", "ReceiptsTable"),
        ("SWITCHYARD_PLATFORM_KEYS_SECRET", "PlatformKeysSecret"),
        ("SWITCHYARD_ARTIFACTS_TABLE", "ArtifactsTable"),
        ("SWITCHYARD_ARTIFACTS_BUCKET", "ArtifactsBucket"),
        ("SWITCHYARD_AGENTS_TABLE", "AgentsTable"),
        ("SWITCHYARD_OAUTH_LINK_KEY_SECRET", "OAuthLinkKeySecret"),
        ("SWITCHYARD_JOBS_TABLE", "JobsTable"),
        ("SWITCHYARD_JOBS_QUEUE_URL", "JobsQueue"),
        ("SWITCHYARD_APPROVALS_TABLE", "ApprovalsTable"),
        ("SWITCHYARD_MESSAGES_TABLE", "MessagesTable"),
    ],
}


def resource_vars(binary: str) -> str:
    """The `Variables:` lines naming the binary's resources (indented for the templates below)."""
    return vars_lines(NEEDS[binary])


def vars_lines(needs: list[tuple[str, str]]) -> str:
    return "".join(f"        {var}: !Ref {logical_id}\n" for var, logical_id in needs)


def webhook_needs(p: dict) -> list[tuple[str, str]]:
    """The resources of provider `p`'s webhook function, mirroring switchyard's
    `WebhookDef::needs`: its queue, KMS and audit only where the scheme reads sealed secrets, the
    watches table only for stored channels. NEEDS["webhook"] for a signed provider."""
    needs = [
        ("SWITCHYARD_INSTANCES_TABLE", "InstancesTable"),
        ("SWITCHYARD_DELIVERIES_TABLE", "DeliveriesTable"),
        QUEUES[p["queue"]],
        ("SWITCHYARD_PAYLOAD_BUCKET", "PayloadBucket"),
    ]
    if p["sealed_secrets"]:
        needs += [("SWITCHYARD_KMS_KEY_ID", "TokenKey"), ("SWITCHYARD_AUDIT_TABLE", "AuditTable")]
    if p["watched_channel"]:
        needs.append(("SWITCHYARD_WATCHES_TABLE", "WatchesTable"))
    return needs


# ---------------------------------------------------------------- KMS grants


def kms_statement(sid: str, action: str, provider: str, context_keys: list[str], comment: str = "") -> str:
    """One TokenKey statement whose encryption context must name `provider` and use no key but
    `provider` and `context_keys` (indented for the templates below)."""
    keys = "".join(f"                  - {key}\n" for key in ["provider", *context_keys])
    lines = "".join(f"          # {line}\n" for line in comment.splitlines())
    return (
        f"{lines}"
        f"          - Sid: {sid}\n"
        f"            Effect: Allow\n"
        f"            Action: {action}\n"
        f"            Resource: !GetAtt TokenKey.Arn\n"
        f"            Condition:\n"
        f"              StringEquals:\n"
        f"                kms:EncryptionContext:provider: {scalar(provider)}\n"
        f"              ForAllValues:StringEquals:\n"
        f"                kms:EncryptionContextKeys:\n"
        f"{keys}"
    )


def tool_kms_statements(method: dict) -> str:
    """Open the instance's secrets (and, for OAuth providers, its connection's tokens, sealing
    refreshed ones), for the integration's provider only."""
    provider = method["provider"]
    if not method["oauth"]:
        return kms_statement(
            "OpenInstanceSecrets",
            "kms:Decrypt",
            provider,
            ["instance_id"],
            f"Instance secrets of {provider} instances only (the encryption context names the provider).",
        )
    return kms_statement(
        "OpenCredentials",
        "kms:Decrypt",
        provider,
        ["instance_id", "connection_id"],
        f"Instance secrets and OAuth tokens of {provider} only (the encryption context names the provider).",
    ) + kms_statement("SealRefreshedTokens", "kms:GenerateDataKey", provider, ["connection_id"])


# ---------------------------------------------------------------- regions (text at column 0)

WEBHOOK_FUNCTION = """\
{pascal}WebhookFunction:
  Type: AWS::Serverless::Function
  Metadata:
    BuildMethod: rust-cargolambda
    BuildProperties:
      Binary: webhook
  Properties:
    Description: {description}
    CodeUri: .
    Timeout: 3
    Environment:
      Variables:
        SWITCHYARD_PROVIDER: {provider}
{resource_vars}    Policies:
      - Version: "2012-10-17"
        Statement:
          - Sid: ReadInstance
            Effect: Allow
            Action: dynamodb:GetItem
            Resource: !GetAtt InstancesTable.Arn
          # PutItem claims a delivery; DeleteItem releases this delivery's own claim when
          # the queue refused the WorkItem (conditional on its work_item_id).
          - Sid: ClaimDelivery
            Effect: Allow
            Action:
              - dynamodb:PutItem
              - dynamodb:DeleteItem
            Resource: !GetAtt DeliveriesTable.Arn
          - Sid: Enqueue
            Effect: Allow
            Action: sqs:SendMessage
            Resource: !GetAtt {queue}.Arn
          - Sid: StoreLargePayload
            Effect: Allow
            Action: s3:PutObject
            Resource: !Sub ${{PayloadBucket.Arn}}/payloads/*
{decrypt_statement}{handshake_statements}{channel_statement}    Events:
      Webhook:
        Type: HttpApi
        Properties:
          ApiId: !Ref HttpApi
          Method: POST
          Path: {path}
          PayloadFormatVersion: "2.0"
"""

# Only for providers with a `verification-token` handshake (Notion): the one-time unsigned token
# is sealed into the instance's secrets with a conditional update, and audited (so is a refused
# second token).
VERIFICATION_TOKEN_STATEMENTS = """\
          # The verification-token handshake: seal the provider's token into the instance's
          # secrets (conditional UpdateItem) and audit it, or audit a refused replacement.
          - Sid: CaptureVerificationToken
            Effect: Allow
            Action: dynamodb:UpdateItem
            Resource: !GetAtt InstancesTable.Arn
{seal_statement}          - Sid: AuditVerificationToken
            Effect: Allow
            Action: dynamodb:PutItem
            Resource: !GetAtt AuditTable.Arn
"""

# Only for the `watched-channel` scheme: one consistent GetItem of the notified channel.
READ_CHANNEL_STATEMENT = """\
          # The notified push channel: its owner, resource id, token digest and expiry.
          - Sid: ReadPushChannel
            Effect: Allow
            Action: dynamodb:GetItem
            Resource: !GetAtt WatchesTable.Arn
"""

WEBHOOK_VERIFY_EVENT = """\
      # The provider's GET verification handshake (hub.mode=subscribe, hub.challenge).
      WebhookVerify:
        Type: HttpApi
        Properties:
          ApiId: !Ref HttpApi
          Method: GET
          Path: {path}
          PayloadFormatVersion: "2.0"
"""

WEBHOOK_LOG_GROUP = """\
{pascal}WebhookLogGroup:
  Type: AWS::Logs::LogGroup
  Properties:
    LogGroupName: !Sub /aws/lambda/${{{pascal}WebhookFunction}}
    RetentionInDays: 14
"""

WEBHOOK_OUTPUT = """\
{pascal}WebhookUrl:
  Description: {description}
  Value: !Sub https://${{HttpApi}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/webhooks/{provider}/{{instance_id}}
"""

TOOL_FUNCTION = """\
{logical_id}:
  Type: AWS::Serverless::Function
  Metadata:
    BuildMethod: rust-cargolambda
    BuildProperties:
      Binary: tool
  Properties:
    Description: {description}
    CodeUri: .
    Timeout: 30
    Environment:
      Variables:
        SWITCHYARD_TOOL: {tool_id}
        SWITCHYARD_PUBLIC_URL: !Ref PublicBaseUrl
{resource_vars}    Policies:
      - Version: "2012-10-17"
        Statement:
          - Sid: ReadInstance
            Effect: Allow
            Action: dynamodb:GetItem
            Resource: !GetAtt InstancesTable.Arn
          # Who is calling: agent token hashes, IAM principal mappings, the agent's flags.
          - Sid: AuthenticateAgents
            Effect: Allow
            Action: dynamodb:GetItem
            Resource: !GetAtt AgentsTable.Arn
          - Sid: BreakerAndIdempotency
            Effect: Allow
            Action:
              - dynamodb:GetItem
              - dynamodb:PutItem
              - dynamodb:UpdateItem
              - dynamodb:DeleteItem
            Resource: !GetAtt ToolStateTable.Arn
          - Sid: WriteReceipt
            Effect: Allow
            Action: dynamodb:PutItem
            Resource: !GetAtt ReceiptsTable.Arn
          # A gated call is stored for approval (GetItem finds a retry's pending approval).
          - Sid: RequestApproval
            Effect: Allow
            Action:
              - dynamodb:GetItem
              - dynamodb:PutItem
            Resource: !GetAtt ApprovalsTable.Arn
{vault_statements}{kms_statements}{api_key_statements}          # integration.error (tool disabled) and integration.disconnected events.
          - Sid: AnnounceIntegrationEvents
            Effect: Allow
            Action: events:PutEvents
            Resource: !GetAtt AgentEventBus.Arn
    Events:
      Http:
        Type: HttpApi
        Properties:
          ApiId: !Ref HttpApi
          Method: POST
          Path: {path}
          PayloadFormatVersion: "2.0"
          Auth:
            Authorizer: AWS_IAM
"""


def webhook_functions(root: Path) -> list[str]:
    blocks = []
    for p in webhook_providers(root):
        path = scalar(f"/webhooks/{p['id']}/{{instance_id}}")
        served = p["instances_of"]
        block = WEBHOOK_FUNCTION.format(
            pascal=p["pascal"],
            description=scalar(f"{p['name']} webhooks into the {p['queue']} queue."),
            provider=scalar(p["id"]),
            path=path,
            resource_vars=vars_lines(webhook_needs(p)),
            queue=QUEUES[p["queue"]][1],
            decrypt_statement=kms_statement(
                "DecryptInstanceSecrets",
                "kms:Decrypt",
                served,
                ["instance_id"],
                f"Secrets of {served} instances only: no other provider's, and no OAuth tokens.",
            )
            if p["sealed_secrets"]
            else "",
            handshake_statements=VERIFICATION_TOKEN_STATEMENTS.format(
                seal_statement=kms_statement("SealVerificationToken", "kms:GenerateDataKey", served, ["instance_id"])
            )
            if p["verification_token"]
            else "",
            channel_statement=READ_CHANNEL_STATEMENT if p["watched_channel"] else "",
        )
        if p["hub_challenge"]:
            block += WEBHOOK_VERIFY_EVENT.format(path=path)
        blocks.append(block)
    return blocks


def webhook_log_groups(root: Path) -> list[str]:
    return [WEBHOOK_LOG_GROUP.format(pascal=p["pascal"]) for p in webhook_providers(root)]


def webhook_outputs(root: Path) -> list[str]:
    return [
        WEBHOOK_OUTPUT.format(
            pascal=p["pascal"],
            provider=p["id"],
            description=scalar(f"{p['name']} webhook URL; replace {{instance_id}} with the plugin instance id."),
        )
        for p in webhook_providers(root)
    ]


# Only for tools of OAuth providers: a provider without an `oauth:` section has no connections,
# so its tools never read one, refresh it or audit its disconnection.
TOKEN_VAULT_STATEMENTS = """\
          # OAuth connections through the token vault (refresh lease, rotated tokens), and the
          # audit entry of a connection found revoked or needing re-consent.
          - Sid: TokenVault
            Effect: Allow
            Action:
              - dynamodb:GetItem
              - dynamodb:UpdateItem
            Resource: !GetAtt ConnectionsTable.Arn
          - Sid: Audit
            Effect: Allow
            Action: dynamodb:PutItem
            Resource: !GetAtt AuditTable.Arn
          # Signs the connect link of a `connection_required` answer (per-user connections).
          - Sid: SignConnectLinks
            Effect: Allow
            Action: secretsmanager:GetSecretValue
            Resource: !Ref OAuthLinkKeySecret
"""


def api_key_statements(names: list[str]) -> str:
    """An AI tool's API keys: the platform's (one secret) and the workspace's own overrides
    (connections sealed with the key name as provider and a `connection_id` context)."""
    if not names:
        return ""
    providers = "".join(f"                  - {scalar(n)}\n" for n in names)
    return (
        "          # API keys: the platform's, and the workspace's own sealed as connections.\n"
        "          - Sid: ReadPlatformKeys\n"
        "            Effect: Allow\n"
        "            Action: secretsmanager:GetSecretValue\n"
        "            Resource: !Ref PlatformKeysSecret\n"
        "          - Sid: ReadWorkspaceKeys\n"
        "            Effect: Allow\n"
        "            Action: dynamodb:GetItem\n"
        "            Resource: !GetAtt ConnectionsTable.Arn\n"
        "          - Sid: OpenWorkspaceKeys\n"
        "            Effect: Allow\n"
        "            Action: kms:Decrypt\n"
        "            Resource: !GetAtt TokenKey.Arn\n"
        "            Condition:\n"
        "              StringEquals:\n"
        "                kms:EncryptionContext:provider:\n"
        f"{providers}"
        "              ForAllValues:StringEquals:\n"
        "                kms:EncryptionContextKeys:\n"
        "                  - provider\n"
        "                  - connection_id\n"
    )


# Media tools (`shared/integrations/media.json`): platform API keys (Secrets Manager) or a
# workspace's own (a vault connection sealed for the key's provider), and the artifacts they
# write (object, then metadata); a presigned URL is signed with the function's role, so reading
# the object is the role's too. Transcription reads artifacts' metadata, and a Slack file is
# fetched with the bot token of a Slack instance.
MEDIA_KEY_PROVIDERS = ["elevenlabs", "openai"]


def media_statements(method: dict) -> str:
    if method["integration"] != "media":
        return ""
    table_actions = ["dynamodb:PutItem"]
    if method["method"] == "transcribe_audio":
        table_actions.insert(0, "dynamodb:GetItem")
    actions = "".join(f"              - {a}\n" for a in table_actions)
    providers = "".join(f"                  - {p}\n" for p in MEDIA_KEY_PROVIDERS)
    out = (
        "          - Sid: PlatformKeys\n"
        "            Effect: Allow\n"
        "            Action: secretsmanager:GetSecretValue\n"
        "            Resource: !Ref PlatformKeysSecret\n"
        "          - Sid: WorkspaceKeys\n"
        "            Effect: Allow\n"
        "            Action: dynamodb:GetItem\n"
        "            Resource: !GetAtt ConnectionsTable.Arn\n"
        "          # A workspace's own key is sealed for the key's provider, bound to its connection.\n"
        "          - Sid: OpenWorkspaceKeys\n"
        "            Effect: Allow\n"
        "            Action: kms:Decrypt\n"
        "            Resource: !GetAtt TokenKey.Arn\n"
        "            Condition:\n"
        "              StringEquals:\n"
        "                kms:EncryptionContext:provider:\n"
        f"{providers}"
        "              ForAllValues:StringEquals:\n"
        "                kms:EncryptionContextKeys:\n"
        "                  - connection_id\n"
        "                  - provider\n"
        "          - Sid: ArtifactObjects\n"
        "            Effect: Allow\n"
        "            Action:\n"
        "              - s3:PutObject\n"
        "              - s3:GetObject\n"
        "            Resource: !Sub ${ArtifactsBucket.Arn}/artifacts/*\n"
        "          - Sid: ArtifactMetadata\n"
        "            Effect: Allow\n"
        "            Action:\n"
        f"{actions}"
        "            Resource: !GetAtt ArtifactsTable.Arn\n"
        "          # A background call: the job record, then the worker's message.\n"
        "          - Sid: QueueJob\n"
        "            Effect: Allow\n"
        "            Action: dynamodb:PutItem\n"
        "            Resource: !GetAtt JobsTable.Arn\n"
        "          - Sid: QueueJobMessage\n"
        "            Effect: Allow\n"
        "            Action: sqs:SendMessage\n"
        "            Resource: !GetAtt JobsQueue.Arn\n"
    )
    if method["method"] == "transcribe_audio":
        out += kms_statement(
            "OpenSlackBotToken",
            "kms:Decrypt",
            "slack",
            ["instance_id"],
            "A Slack file is fetched with the bot token of a Slack instance of the workspace.",
        )
    return out


# Tools that read artifacts of the caller's workspace without writing any: the knowledge base's
# text documents and llm.analyze_image's images (metadata first, then the object).
ARTIFACT_READERS = {"kb.ingest", "llm.analyze_image", "whatsapp.media_upload"}
# kb.ingest reads a Google Doc with docs.get_document in the same process, so it needs that
# tool's OAuth connection: the vault (refresh lease, rotated tokens sealed again) and its audit.
GOOGLE_DOC_READERS = {"kb.ingest"}


def document_statements(method: dict) -> str:
    out = ""
    if method["tool_id"] in ARTIFACT_READERS:
        out += (
            "          - Sid: ReadArtifactMetadata\n"
            "            Effect: Allow\n"
            "            Action: dynamodb:GetItem\n"
            "            Resource: !GetAtt ArtifactsTable.Arn\n"
            "          - Sid: ReadArtifactObjects\n"
            "            Effect: Allow\n"
            "            Action: s3:GetObject\n"
            "            Resource: !Sub ${ArtifactsBucket.Arn}/artifacts/*\n"
        )
    if method["tool_id"] in GOOGLE_DOC_READERS:
        out += TOKEN_VAULT_STATEMENTS
        out += kms_statement(
            "OpenGoogleCredentials",
            "kms:Decrypt",
            "google",
            ["instance_id", "connection_id"],
            "A Google Doc is read through a Google instance of the workspace (docs.get_document).",
        )
        out += kms_statement("SealRefreshedGoogleTokens", "kms:GenerateDataKey", "google", ["connection_id"])
    return out


# Email tools (`shared/integrations/email.json`): SES sends from the stack's verified
# identities with its configuration set, and each accepted message goes to the message log
# (an upsert keeping statuses already recorded). SendGrid's key is an API key statement.
EMAIL_STATEMENTS = (
    "          - Sid: SendWithSes\n"
    "            Effect: Allow\n"
    "            Action: ses:SendEmail\n"
    "            Resource:\n"
    "              - !Sub arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*\n"
    "              - !Sub arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/${EmailConfigurationSet}\n"
    "          - Sid: LogSentMessages\n"
    "            Effect: Allow\n"
    "            Action: dynamodb:UpdateItem\n"
    "            Resource: !GetAtt MessagesTable.Arn\n"
)


def email_statements(method: dict) -> str:
    return EMAIL_STATEMENTS if method["integration"] == "email" else ""


def tool_functions(root: Path) -> list[str]:
    return [
        TOOL_FUNCTION.format(
            logical_id=m["logical_id"],
            description=scalar(f"Tool {m['tool_id']} ({m['name']})."),
            tool_id=scalar(m["tool_id"]),
            path=scalar(f"/tools/{m['integration']}/{m['method']}"),
            resource_vars=resource_vars("tool"),
            vault_statements=TOKEN_VAULT_STATEMENTS if m["oauth"] else "",
            kms_statements=tool_kms_statements(m) + media_statements(m) + document_statements(m) + email_statements(m),
            api_key_statements=api_key_statements(m["api_keys"]),
        )
        for m in tool_methods(root)
    ]


MCP_FUNCTION = """\
# Tools over MCP (stateless Streamable HTTP): every tool an agent is granted, so its role is
# the union of the tool functions' roles, plus discovery's grant index. The routes are
# public at the gateway: the function is an OAuth resource server and checks bearer tokens
# itself (401 with the protected resource metadata), so an MCP client can discover the issuer.
McpFunction:
  Type: AWS::Serverless::Function
  Metadata:
    BuildMethod: rust-cargolambda
    BuildProperties:
      Binary: mcp
  Properties:
    Description: Tools over MCP, with OAuth (OIDC access tokens bound to the resource).
    CodeUri: .
    Timeout: 30
    Environment:
      Variables:
        SWITCHYARD_MCP_RESOURCE: !Sub ${{PublicBaseUrl}}/mcp
        SWITCHYARD_MCP_ISSUER: !Ref McpIssuer
        SWITCHYARD_MCP_JWKS_URL: !Ref McpJwksUrl
        SWITCHYARD_MCP_CLIENTS: !Ref McpClients
{resource_vars}    Policies:
      - Version: "2012-10-17"
        Statement:
          # tools/list and tools/call: the agent's granted instances, read one by one.
          - Sid: ReadInstances
            Effect: Allow
            Action: dynamodb:GetItem
            Resource: !GetAtt InstancesTable.Arn
          # Agent tokens, the agent's flags and its grant index (discovery never scans).
          - Sid: AuthenticateAgentsAndReadGrantIndex
            Effect: Allow
            Action:
              - dynamodb:GetItem
              - dynamodb:Query
            Resource: !GetAtt AgentsTable.Arn
          - Sid: BreakerAndIdempotency
            Effect: Allow
            Action:
              - dynamodb:GetItem
              - dynamodb:PutItem
              - dynamodb:UpdateItem
              - dynamodb:DeleteItem
            Resource: !GetAtt ToolStateTable.Arn
          - Sid: WriteReceipt
            Effect: Allow
            Action: dynamodb:PutItem
            Resource: !GetAtt ReceiptsTable.Arn
          # A gated call is stored for approval; a background media call goes to the worker.
          - Sid: RequestApproval
            Effect: Allow
            Action:
              - dynamodb:GetItem
              - dynamodb:PutItem
            Resource: !GetAtt ApprovalsTable.Arn
          - Sid: QueueJob
            Effect: Allow
            Action: dynamodb:PutItem
            Resource: !GetAtt JobsTable.Arn
          - Sid: QueueJobMessage
            Effect: Allow
            Action: sqs:SendMessage
            Resource: !GetAtt JobsQueue.Arn
{vault_statements}{kms_statements}{key_statements}          - Sid: AnnounceIntegrationEvents
            Effect: Allow
            Action: events:PutEvents
            Resource: !GetAtt AgentEventBus.Arn
    Events:
      Mcp:
        Type: HttpApi
        Properties:
          ApiId: !Ref HttpApi
          Method: POST
          Path: /mcp
          PayloadFormatVersion: "2.0"
      McpOtherMethods:
        Type: HttpApi
        Properties:
          ApiId: !Ref HttpApi
          Method: GET
          Path: /mcp
          PayloadFormatVersion: "2.0"
      ResourceMetadata:
        Type: HttpApi
        Properties:
          ApiId: !Ref HttpApi
          Method: GET
          Path: /.well-known/oauth-protected-resource
          PayloadFormatVersion: "2.0"
      ResourceMetadataOfMcp:
        Type: HttpApi
        Properties:
          ApiId: !Ref HttpApi
          Method: GET
          Path: /.well-known/oauth-protected-resource/mcp
          PayloadFormatVersion: "2.0"
"""


def kms_any_of(sid: str, action: str, providers: list[str], context_keys: list[str], comment: str) -> str:
    """A TokenKey statement for envelopes of any of `providers` bound to `context_keys`."""
    names = "".join(f"                  - {scalar(p)}\n" for p in providers)
    keys = "".join(f"                  - {k}\n" for k in ["provider", *context_keys])
    return (
        f"          # {comment}\n"
        f"          - Sid: {sid}\n"
        f"            Effect: Allow\n"
        f"            Action: {action}\n"
        f"            Resource: !GetAtt TokenKey.Arn\n"
        f"            Condition:\n"
        f"              StringEquals:\n"
        f"                kms:EncryptionContext:provider:\n"
        f"{names}"
        f"              ForAllValues:StringEquals:\n"
        f"                kms:EncryptionContextKeys:\n"
        f"{keys}"
    )


def mcp_function(root: Path) -> list[str]:
    return [MCP_FUNCTION.format(**tool_union_statements(root))]


def tool_union_statements(root: Path) -> dict[str, str]:
    """The statements of a function that may run every tool (the MCP function, the intents
    worker): the union of the tool functions' roles."""
    methods = tool_methods(root)
    oauth = sorted({m["provider"] for m in methods if m["oauth"]})
    plain = sorted({m["provider"] for m in methods if not m["oauth"]})
    kms = ""
    if plain:
        kms += kms_any_of("OpenInstanceSecrets", "kms:Decrypt", plain, ["instance_id"], "Instance secrets of the tools' providers without OAuth.")
    if oauth:
        kms += kms_any_of(
            "OpenCredentials",
            "kms:Decrypt",
            oauth,
            ["instance_id", "connection_id"],
            "Instance secrets and OAuth tokens of the tools' OAuth providers.",
        )
        kms += kms_any_of("SealRefreshedTokens", "kms:GenerateDataKey", oauth, ["connection_id"], "Refreshed OAuth tokens.")
    key_names = sorted({k for m in methods for k in m["api_keys"]})
    media = any(m["integration"] == "media" for m in methods)
    if media:
        key_names = sorted({*key_names, *MEDIA_KEY_PROVIDERS})
    keys = ""
    if key_names:
        keys += (
            "          # API keys: the platform's, and the workspace's own sealed as connections.\n"
            "          - Sid: ReadPlatformKeys\n"
            "            Effect: Allow\n"
            "            Action: secretsmanager:GetSecretValue\n"
            "            Resource: !Ref PlatformKeysSecret\n"
            "          - Sid: ReadWorkspaceKeys\n"
            "            Effect: Allow\n"
            "            Action: dynamodb:GetItem\n"
            "            Resource: !GetAtt ConnectionsTable.Arn\n"
        ) + kms_any_of("OpenWorkspaceKeys", "kms:Decrypt", key_names, ["connection_id"], "A workspace's own API keys.")
    if media:
        keys += (
            "          # Media artifacts: the object (read too: presigned URLs act as the role), then metadata.\n"
            "          - Sid: ArtifactObjects\n"
            "            Effect: Allow\n"
            "            Action:\n"
            "              - s3:PutObject\n"
            "              - s3:GetObject\n"
            "            Resource: !Sub ${ArtifactsBucket.Arn}/artifacts/*\n"
            "          - Sid: ArtifactMetadata\n"
            "            Effect: Allow\n"
            "            Action:\n"
            "              - dynamodb:GetItem\n"
            "              - dynamodb:PutItem\n"
            "            Resource: !GetAtt ArtifactsTable.Arn\n"
        )
    if any(m["integration"] == "email" for m in methods):
        keys += EMAIL_STATEMENTS
    return {
        "resource_vars": resource_vars("tool"),
        "vault_statements": TOKEN_VAULT_STATEMENTS if oauth else "",
        "kms_statements": kms,
        "key_statements": keys,
    }


INTENTS_WORKER_FUNCTION = """\
# The intents worker: invoked by an intent's EventBridge Scheduler schedule, it runs the tool call
# through the pipeline as the agent that asked, so its role is the tool functions' union (as
# the MCP function's), plus the intents and the one-off schedules of retries. Its name is fixed
# so the scheduler role and the schedules can name it without a circular reference.
IntentsWorkerFunction:
  Type: AWS::Serverless::Function
  Metadata:
    BuildMethod: rust-cargolambda
    BuildProperties:
      Binary: intents-worker
  Properties:
    FunctionName: !Sub ${{AWS::StackName}}-intents-worker
    Description: Runs scheduled task intents when their schedules fire.
    CodeUri: .
    Timeout: 60
    Environment:
      Variables:
{resource_vars}        SWITCHYARD_INTENTS_TABLE: !Ref IntentsTable
        SWITCHYARD_INTENTS_SCHEDULE_GROUP: !Ref IntentsScheduleGroup
        SWITCHYARD_INTENTS_WORKER_ARN: !Sub arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:${{AWS::StackName}}-intents-worker
        SWITCHYARD_INTENTS_SCHEDULER_ROLE_ARN: !GetAtt IntentsSchedulerRole.Arn
    Policies:
      - Version: "2012-10-17"
        Statement:
          - Sid: ReadInstances
            Effect: Allow
            Action: dynamodb:GetItem
            Resource: !GetAtt InstancesTable.Arn
          # The agent's flags (`may_act_for_users`).
          - Sid: ReadAgents
            Effect: Allow
            Action: dynamodb:GetItem
            Resource: !GetAtt AgentsTable.Arn
          - Sid: BreakerAndIdempotency
            Effect: Allow
            Action:
              - dynamodb:GetItem
              - dynamodb:PutItem
              - dynamodb:UpdateItem
              - dynamodb:DeleteItem
            Resource: !GetAtt ToolStateTable.Arn
          - Sid: WriteReceipt
            Effect: Allow
            Action: dynamodb:PutItem
            Resource: !GetAtt ReceiptsTable.Arn
          # A gated call is stored for approval; a background media call goes to the worker.
          - Sid: RequestApproval
            Effect: Allow
            Action:
              - dynamodb:GetItem
              - dynamodb:PutItem
            Resource: !GetAtt ApprovalsTable.Arn
          - Sid: QueueJob
            Effect: Allow
            Action: dynamodb:PutItem
            Resource: !GetAtt JobsTable.Arn
          - Sid: QueueJobMessage
            Effect: Allow
            Action: sqs:SendMessage
            Resource: !GetAtt JobsQueue.Arn
{vault_statements}{kms_statements}{key_statements}          - Sid: AnnounceIntegrationEvents
            Effect: Allow
            Action: events:PutEvents
            Resource: !GetAtt AgentEventBus.Arn
          # The claim and the outcome: conditional puts by key.
          - Sid: Intents
            Effect: Allow
            Action:
              - dynamodb:GetItem
              - dynamodb:PutItem
            Resource: !GetAtt IntentsTable.Arn
          - Sid: RetrySchedules
            Effect: Allow
            Action: scheduler:CreateSchedule
            Resource: !Sub arn:${{AWS::Partition}}:scheduler:${{AWS::Region}}:${{AWS::AccountId}}:schedule/${{IntentsScheduleGroup}}/*
          - Sid: PassSchedulerRole
            Effect: Allow
            Action: iam:PassRole
            Resource: !GetAtt IntentsSchedulerRole.Arn
"""


def intents_worker_function(root: Path) -> list[str]:
    return [INTENTS_WORKER_FUNCTION.format(**tool_union_statements(root))]


REGIONS = {
    "webhook functions": webhook_functions,
    "webhook log groups": webhook_log_groups,
    "webhook outputs": webhook_outputs,
    "tool functions": tool_functions,
    "mcp function": mcp_function,
    "intents worker function": intents_worker_function,
}


# ---------------------------------------------------------------- splicing


def render(blocks: list[str], indent: str) -> list[str]:
    """The region's lines: blocks separated by one blank line, indented like the marker."""
    text = "\n".join(blocks)
    return [(indent + line if line else line) + "\n" for line in text.splitlines()]


def generate(template: str, root: Path) -> str:
    """`template` with every region regenerated."""
    lines = template.splitlines(keepends=True)
    out: list[str] = []
    seen: set[str] = set()
    i = 0
    while i < len(lines):
        line = lines[i]
        if END.match(line.rstrip("\n")):
            raise DefinitionError(f"template.yaml:{i + 1}: end marker without a begin marker")
        begin = BEGIN.match(line.rstrip("\n"))
        if not begin:
            out.append(line)
            i += 1
            continue
        name, indent = begin["name"], begin["indent"]
        if name not in REGIONS:
            raise DefinitionError(f"template.yaml:{i + 1}: unknown generated region {name!r} (known: {', '.join(REGIONS)})")
        if name in seen:
            raise DefinitionError(f"template.yaml:{i + 1}: region {name!r} appears twice")
        seen.add(name)
        j = i + 1
        while j < len(lines):
            if BEGIN.match(lines[j].rstrip("\n")):
                raise DefinitionError(f"template.yaml:{j + 1}: begin marker inside region {name!r}")
            end = END.match(lines[j].rstrip("\n"))
            if end:
                if end["name"] != name:
                    raise DefinitionError(f"template.yaml:{j + 1}: region {name!r} ends with {end['name']!r}")
                break
            j += 1
        else:
            raise DefinitionError(f"template.yaml:{i + 1}: region {name!r} has no end marker")
        out.append(indent + BEGIN_LINE.format(name=name) + "\n")
        out.extend(render(REGIONS[name](root), indent))
        out.append(lines[j])
        i = j + 1
    missing = [name for name in REGIONS if name not in seen]
    if missing:
        raise DefinitionError(f"template.yaml: no marker for region(s) {', '.join(missing)}")
    result = "".join(out)
    sanity_check(result)
    return result


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !Sub, !GetAtt...) as plain values."""


_CfnLoader.add_multi_constructor(
    "!",
    lambda loader, suffix, node: (
        loader.construct_scalar(node)
        if isinstance(node, yaml.ScalarNode)
        else loader.construct_sequence(node)
        if isinstance(node, yaml.SequenceNode)
        else loader.construct_mapping(node)
    ),
)


def sanity_check(text: str) -> None:
    """The result parses and no logical id is declared twice (YAML would keep the last one)."""
    try:
        yaml.load(text, Loader=_CfnLoader)  # noqa: S506 (SafeLoader subclass)
    except yaml.YAMLError as e:
        raise DefinitionError(f"generated template does not parse: {e}") from e
    section, seen, dupes = None, {}, []
    for number, line in enumerate(text.splitlines(), 1):
        top = re.match(r"^([A-Za-z]+):", line)
        if top:
            section = top[1]
            continue
        key = re.match(r"^  ([A-Za-z0-9]+):", line)
        if key and section:
            # Parameters and Resources share CloudFormation's logical-id namespace.
            space = "Resources" if section == "Parameters" else section
            where = seen.setdefault(space, {})
            if key[1] in where:
                dupes.append(f"{section}.{key[1]} (lines {where[key[1]]} and {number})")
            where[key[1]] = number
    if dupes:
        raise DefinitionError("logical id declared twice: " + "; ".join(dupes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if template.yaml is stale; change nothing")
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    current = args.template.read_text(encoding="utf-8")
    try:
        wanted = generate(current, args.root)
    except DefinitionError as e:
        print(f"gen_template: {e}", file=sys.stderr)
        return 2

    if args.check:
        if current == wanted:
            print("template.yaml is up to date")
            return 0
        diff = list(
            difflib.unified_diff(
                current.splitlines(keepends=True),
                wanted.splitlines(keepends=True),
                "template.yaml",
                "template.yaml (generated)",
                n=2,
            )
        )
        shown = "".join(diff[:80]) + (f"... ({len(diff) - 80} more diff lines)\n" if len(diff) > 80 else "")
        print(f"{STALE}\n{shown}", file=sys.stderr)
        print(STALE, file=sys.stderr)
        return 1

    if current == wanted:
        print("template.yaml: up to date")
        return 0
    # Write only on change (stack.rs compiles the template in, so a touch means a rebuild).
    fd, tmp = tempfile.mkstemp(dir=args.template.parent, prefix=".template.", suffix=".yaml")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        f.write(wanted)
    os.chmod(tmp, args.template.stat().st_mode & 0o777)
    os.replace(tmp, args.template)
    print("template.yaml: regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
