#!/usr/bin/env python3
"""(Re)writes the signed sample events in events/ (run by `make events`).

Every file is deterministic: fixed timestamps, fixed ids, the documented demo credentials
that `make dev` seeds (shared/ops/src/local.rs, `shared/providers/src/demo.rs`). Running this twice produces identical
bytes. Python 3.11, stdlib + `cryptography` only.

Webhook events are API Gateway HTTP API (payload format 2.0) requests for the
`slack-webhook` and `discord-webhook` functions; consumer events are SQS batches for
`ingress-consumer`. After writing, the files are re-read and every signature is recomputed
independently: the cases expected to verify must verify, the bad ones must not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import urllib.parse
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "events"

# ------------------------------------------------------------------ demo credentials (test values)

# Slack's documented example signing secret ("Verifying requests from Slack").
SLACK_SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
# RFC 8032 section 7.1, TEST 1.
DISCORD_SEED_HEX = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
DISCORD_PUBLIC_KEY_HEX = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"

SLACK_INSTANCE = "demo-slack"
DISCORD_INSTANCE = "demo-discord"
DISCORD_APPLICATION_ID = "100000000000000001"

TS = 1767225600  # 2026-01-01T00:00:00Z
STALE_TS = TS - 301  # one second past the 300 s replay window
TOLERANCE_SECS = 300

# ------------------------------------------------------------------ fixed request metadata

ACCOUNT_ID = "123456789012"
DEMO_AGENT_TOKEN = "sya_demo000000000000000000000000000000000000000"  # shared/providers/src/demo.rs
API_ID = "sw1tchyrd0"
DOMAIN = f"{API_ID}.execute-api.us-east-1.amazonaws.com"
REQUEST_TIME = "01/Jan/2026:00:00:00 +0000"
REQUEST_EPOCH_MS = TS * 1000
SLACK_UA = "Slackbot 1.0 (+https://api.slack.com/robots)"
DISCORD_UA = "Discord-Interactions/1.0 (+https://discord.com)"
SLACK_IP = "203.0.113.10"  # TEST-NET-3 documentation addresses
DISCORD_IP = "203.0.113.20"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:switchyard-IngressQueue"

# Slack's (legacy) verification token, the same demo value in every Slack body.
SLACK_TOKEN = "Jhj5dZrVaK7ZwHHjRyZWjbDl"
TEAM_ID = "T0DEMO"
APP_ID = "A0DEMO"


def compact(value: object) -> str:
    """Compact JSON, keys in insertion order (the raw bytes a provider would send)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# ------------------------------------------------------------------ signing


def slack_signature(secret: str, timestamp: int | str, body: bytes) -> str:
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


def discord_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(DISCORD_SEED_HEX))


def discord_signature(key: Ed25519PrivateKey, timestamp: int | str, body: bytes) -> str:
    return key.sign(str(timestamp).encode() + body).hex()


def self_checks() -> None:
    body = (
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
        "&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
        "&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
        "commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    got = slack_signature(SLACK_SIGNING_SECRET, 1531420618, body.encode())
    want = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert got == want, f"Slack self-check failed: {got} != {want}"

    public = discord_key().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert public.hex() == DISCORD_PUBLIC_KEY_HEX, f"Ed25519 self-check failed: {public.hex()}"


# ------------------------------------------------------------------ HTTP API (payload 2.0) events


def provider_samples() -> dict[str, dict]:
    """The signed samples of the providers declared by data (shared/providers/samples/)."""
    out = {}
    for path in sorted((ROOT / "shared" / "providers" / "samples").glob("*.json")):
        if path.stem not in ("slack", "discord"):
            out[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    return out


def http_event(
    *,
    provider: str,
    instance_id: str,
    body: str,
    headers: dict[str, str],
    request_no: int,
) -> dict:
    path = f"/webhooks/{provider}/{instance_id}"
    route_key = f"POST /webhooks/{provider}/{{instance_id}}"
    ua = {"slack": SLACK_UA, "discord": DISCORD_UA}.get(provider, f"{provider}-webhooks/1.0")
    ip = SLACK_IP if provider == "slack" else DISCORD_IP
    all_headers = {
        "content-length": str(len(body.encode("utf-8"))),
        "host": DOMAIN,
        "user-agent": ua,
        "x-amzn-trace-id": f"Root=1-{TS:08x}-{request_no:024x}",
        "x-forwarded-for": ip,
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        **headers,
    }
    return {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": all_headers,
        "pathParameters": {"instance_id": instance_id},
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": DOMAIN,
            "domainPrefix": API_ID,
            "http": {
                "method": "POST",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": ip,
                "userAgent": ua,
            },
            "requestId": f"DEMO{request_no:010d}=",
            "routeKey": route_key,
            "stage": "$default",
            "time": REQUEST_TIME,
            "timeEpoch": REQUEST_EPOCH_MS,
        },
        "body": body,
        "isBase64Encoded": False,
    }


def oauth_event(*, step: str, provider: str, query: dict[str, str], request_no: int) -> dict:
    """A browser's GET of /oauth/{provider}/start or /callback (HTTP API payload 2.0)."""
    path = f"/oauth/{provider}/{step}"
    route_key = f"GET /oauth/{{provider}}/{step}"
    raw_query = urllib.parse.urlencode(query)
    ua = "Mozilla/5.0 (X11; Linux x86_64) demo-browser"
    event = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": {"host": DOMAIN, "user-agent": ua, "x-forwarded-proto": "https",
                    "x-amzn-trace-id": f"Root=1-{TS:08x}-{request_no:024x}"},
        "pathParameters": {"provider": provider},
        "requestContext": {
            "accountId": ACCOUNT_ID, "apiId": API_ID, "domainName": DOMAIN, "domainPrefix": API_ID,
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "198.51.100.7", "userAgent": ua},
            "requestId": f"DEMO{request_no:010d}=", "routeKey": route_key, "stage": "$default",
            "time": REQUEST_TIME, "timeEpoch": REQUEST_EPOCH_MS,
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    return event


def slack_headers(body: str, content_type: str, timestamp: int, signature: str | None = None) -> dict:
    sig = signature or slack_signature(SLACK_SIGNING_SECRET, timestamp, body.encode("utf-8"))
    return {
        "content-type": content_type,
        "x-slack-request-timestamp": str(timestamp),
        "x-slack-signature": sig,
    }


def discord_headers(body: str, timestamp: int, signed_body: str | None = None) -> dict:
    signed = (signed_body if signed_body is not None else body).encode("utf-8")
    return {
        "content-type": "application/json",
        "x-signature-ed25519": discord_signature(discord_key(), timestamp, signed),
        "x-signature-timestamp": str(timestamp),
    }


# ------------------------------------------------------------------ payloads


def event_context(event_type: str, channel: str) -> str:
    """Slack's opaque `event_context`: "4-" + base64url of a small JSON object."""
    inner = compact({"et": event_type, "tid": TEAM_ID, "aid": APP_ID, "cid": channel})
    return "4-" + base64.urlsafe_b64encode(inner.encode()).decode().rstrip("=")


def slack_envelope(event: dict, event_id: str, event_time: int) -> dict:
    return {
        "token": SLACK_TOKEN,
        "team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": TEAM_ID,
                "user_id": "U0BOT",
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": event_context(event["type"], event["channel"]),
    }


URL_VERIFICATION = {
    "token": SLACK_TOKEN,
    "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
    "type": "url_verification",
}

APP_MENTION = slack_envelope(
    {
        "type": "app_mention",
        "user": "U0USER",
        "text": "<@U0BOT> summarize this thread",
        "ts": "1767225600.000100",
        "channel": "C0GENERAL",
        "event_ts": "1767225600.000100",
    },
    "Ev0DEMO0001",
    TS,
)

MESSAGE_IM = slack_envelope(
    {
        "type": "message",
        "channel_type": "im",
        "channel": "D0DM",
        "user": "U0USER",
        "text": "hello bot",
        "ts": "1767225601.000200",
    },
    "Ev0DEMO0002",
    1767225601,  # the message's own ts (Slack sets event_time from the event)
)

SLASH_COMMAND_FIELDS = {
    "token": SLACK_TOKEN,
    "team_id": TEAM_ID,
    "team_domain": "demo",
    "channel_id": "C0GENERAL",
    "channel_name": "general",
    "user_id": "U0USER",
    "user_name": "demo",
    "command": "/ask",
    "text": "what changed today?",
    "api_app_id": APP_ID,
    "response_url": "https://hooks.slack.com/commands/T0DEMO/1/xyz",
    "trigger_id": "1767225600.1.demo",
}

BLOCK_ACTIONS = {
    "type": "block_actions",
    "user": {"id": "U0USER", "username": "demo", "name": "demo", "team_id": TEAM_ID},
    "api_app_id": APP_ID,
    "token": SLACK_TOKEN,
    "container": {
        "type": "message",
        "channel_id": "C0GENERAL",
        "message_ts": "1767225600.000100",
    },
    "trigger_id": "1767225600.2.demo",
    "team": {"id": TEAM_ID, "domain": "demo"},
    "channel": {"id": "C0GENERAL", "name": "general"},
    "response_url": "https://hooks.slack.com/actions/T0DEMO/2/xyz",
    "actions": [
        {
            "action_id": "approve",
            "block_id": "b1",
            "type": "button",
            "value": "yes",
            "action_ts": "1767225600.3",
        }
    ],
}


def discord_token(interaction_id: str) -> str:
    """A long, obviously fake interaction token (shaped like Discord's base64 tokens)."""
    raw = f"interaction:{interaction_id}:demo-token-not-valid-anywhere-" + "0" * 64
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


DISCORD_USER = {
    "id": "500000000000000001",
    "username": "demo",
    "global_name": "Demo",
    "discriminator": "0",
    "avatar": None,
}
GUILD_ID = "300000000000000001"
CHANNEL_ID = "400000000000000001"

DISCORD_PING = {
    "application_id": DISCORD_APPLICATION_ID,
    "id": "200000000000000001",
    "token": discord_token("200000000000000001"),
    "type": 1,
    "user": DISCORD_USER,
    "version": 1,
}

DISCORD_COMMAND = {
    "type": 2,
    "id": "200000000000000002",
    "application_id": DISCORD_APPLICATION_ID,
    "token": discord_token("200000000000000002"),
    "guild_id": GUILD_ID,
    "channel_id": CHANNEL_ID,
    "member": {"user": {"id": "500000000000000001", "username": "demo"}},
    "data": {
        "id": "600000000000000001",
        "name": "ask",
        "type": 1,
        "options": [{"name": "question", "type": 3, "value": "status of the deploy?"}],
    },
    "version": 1,
    "locale": "en-US",
}

DISCORD_COMPONENT = {
    "type": 3,
    "id": "200000000000000003",
    "application_id": DISCORD_APPLICATION_ID,
    "token": discord_token("200000000000000003"),
    "guild_id": GUILD_ID,
    "channel_id": CHANNEL_ID,
    "member": {"user": {"id": "500000000000000001", "username": "demo"}},
    "message": {
        "id": "700000000000000001",
        "channel_id": CHANNEL_ID,
        "author": {"id": DISCORD_APPLICATION_ID, "username": "switchyard-demo", "bot": True},
        "content": "Deploy is ready. Approve?",
        "components": [
            {
                "type": 1,
                "components": [
                    {"type": 2, "style": 3, "label": "Approve", "custom_id": "approve"}
                ],
            }
        ],
        "timestamp": "2026-01-01T00:00:00.000000+00:00",
    },
    "data": {"custom_id": "approve", "component_type": 2},
    "version": 1,
    "locale": "en-US",
}

# ------------------------------------------------------------------ SQS (consumer) events


def work_item_body(n: int, delivery_key: str, provider: str, instance_id: str, kind: str,
                   payload: dict) -> str:
    """A WorkItem message body exactly as shared::workitem::WorkItem::to_json writes it:
    struct field order, compact, and the payload's keys sorted (serde_json's default Map)."""
    item = {
        "v": 1,
        "id": f"wi_{n:032x}",
        "delivery_key": delivery_key,
        "provider": provider,
        "instance_id": instance_id,
        "kind": kind,
        "received_at": TS,
    }
    payload_json = json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return compact(item)[:-1] + ',"payload":' + payload_json + "}"


def sqs_record(n: int, body: str) -> dict:
    return {
        "messageId": f"00000000-0000-4000-8000-{n:012d}",
        "receiptHandle": f"AQEBdemoReceiptHandle{n:04d}==",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": str(TS * 1000 + n),
            "SenderId": ACCOUNT_ID,
            "ApproximateFirstReceiveTimestamp": str(TS * 1000 + n + 10),
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode("utf-8")).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    }


# ------------------------------------------------------------------ the cases


def build() -> list[tuple[str, dict, dict]]:
    """(file name, event, manifest entry) in manifest order."""
    cases: list[tuple[str, dict, dict]] = []
    req = iter(range(1, 1000))

    def slack(case: str, body: str, content_type: str, *, status: int, note: str,
              timestamp: int = TS, instance: str = SLACK_INSTANCE, duplicate: bool = False,
              extra_headers: dict | None = None, signature: str | None = None) -> None:
        headers = slack_headers(body, content_type, timestamp, signature)
        headers.update(extra_headers or {})
        event = http_event(provider="slack", instance_id=instance, body=body, headers=headers,
                           request_no=next(req))
        cases.append((f"slack-webhook-{case}.json", event, {
            "function": "slack-webhook", "provider": "slack", "expect_status": status,
            "expect_duplicate": duplicate, "note": note,
        }))

    def discord(case: str, body: str, *, status: int, note: str,
                signed_body: str | None = None) -> None:
        event = http_event(provider="discord", instance_id=DISCORD_INSTANCE, body=body,
                           headers=discord_headers(body, TS, signed_body), request_no=next(req))
        cases.append((f"discord-webhook-{case}.json", event, {
            "function": "discord-webhook", "provider": "discord", "expect_status": status,
            "expect_duplicate": False, "note": note,
        }))

    def from_samples() -> None:
        # Providers declared by data: each sample request as is, and with one byte flipped.
        for provider, sample in provider_samples().items():
            for request in sample["requests"]:
                for tampered in (False, True):
                    body = request["body"]
                    if tampered:
                        mid = len(body) // 2
                        body = body[:mid] + chr(ord(body[mid]) ^ 1) + body[mid + 1:]
                    headers = {k.lower(): v for k, v in request["headers"].items()}
                    event = http_event(provider=provider, instance_id=f"demo-{provider}",
                                       body=body, headers=headers, request_no=next(req))
                    case = request["name"] + ("-tampered" if tampered else "")
                    cases.append((f"{provider}-webhook-{case}.json", event, {
                        "function": f"{provider}-webhook", "provider": provider,
                        "clock": request["now"],
                        "expect_status": 401 if tampered else 200,
                        "expect_queued": 0 if tampered else len(request["events"]),
                        "expect_duplicate": False,
                        "note": ("one byte flipped: 401, nothing stored" if tampered else
                                 f"{sample['note']} Becomes {', '.join(request['events'])}."),
                    }))

    def consumer(case: str, records: list[dict], failed: list[str], note: str) -> None:
        cases.append((f"ingress-consumer-{case}.json", {"Records": records}, {
            "function": "ingress-consumer", "provider": None, "expect_status": None,
            "expect_duplicate": False, "expect_failed_message_ids": failed, "note": note,
        }))

    json_ct = "application/json"
    form_ct = "application/x-www-form-urlencoded"
    mention = compact(APP_MENTION)

    # Slack
    slack("url-verification", compact(URL_VERIFICATION), json_ct, status=200,
          note="Events API URL verification; answered with the challenge as text/plain, not queued.")
    slack("app-mention", mention, json_ct, status=200,
          note="event_callback app_mention Ev0DEMO0001; queued under slack#demo-slack#ev:Ev0DEMO0001.")
    good = slack_signature(SLACK_SIGNING_SECRET, TS, mention.encode())
    slack("app-mention-retry", mention, json_ct, status=200, duplicate=True,
          extra_headers={"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"},
          note="Slack's retry of app-mention (same body and signature); acknowledged as a duplicate, not queued again.")
    slack("message-im", compact(MESSAGE_IM), json_ct, status=200,
          note="event_callback message in a DM (channel_type im) Ev0DEMO0002.")
    slack("slash-command", urllib.parse.urlencode(SLASH_COMMAND_FIELDS), form_ct, status=200,
          note="Slash command /ask (form-encoded); queued under cmd:1767225600.1.demo.")
    slack("block-actions", urllib.parse.urlencode({"payload": compact(BLOCK_ACTIONS)}), form_ct,
          status=200,
          note="Interactivity block_actions button click (form field payload); queued under ia:1767225600.2.demo.")
    slack("ssl-check", urllib.parse.urlencode({"ssl_check": "1", "token": SLACK_TOKEN}), form_ct,
          status=200, note="Slack SSL check; answered with an empty 200, not queued.")
    flipped = good[:-1] + ("0" if good[-1] != "0" else "1")
    slack("bad-signature", mention, json_ct, status=401, signature=flipped,
          note="app-mention body with the last hex digit of the signature changed.")
    slack("stale-timestamp", mention, json_ct, status=401, timestamp=STALE_TS,
          note="app-mention body correctly signed at 1767225600 - 301 (outside the 300 s window).")
    slack("unknown-instance", mention, json_ct, status=404, instance="no-such-instance",
          note="app-mention correctly signed, posted to instance no-such-instance.")
    slack("malformed", compact({"type": "event_callback"}), json_ct, status=400,
          note="Correctly signed event_callback without event_id or event.")

    # Discord
    command = compact(DISCORD_COMMAND)
    discord("ping", compact(DISCORD_PING), status=200,
            note='PING (type 1); answered {"type":1} (PONG), not queued.')
    discord("command", command, status=200,
            note='APPLICATION_COMMAND /ask; deferred {"type":5}, queued under discord#demo-discord#ia:200000000000000002.')
    discord("component", compact(DISCORD_COMPONENT), status=200,
            note='MESSAGE_COMPONENT button approve; deferred update {"type":6}, queued under ia:200000000000000003.')
    tampered = compact({**DISCORD_COMMAND, "data": {**DISCORD_COMMAND["data"], "options": [
        {"name": "question", "type": 3, "value": "status of the rollback?"}]}})
    discord("bad-signature", command, status=401, signed_body=tampered,
            note="command body carrying the signature of a different body (the question was altered).")

    # Consumer
    wi_mention = work_item_body(1, "slack#demo-slack#ev:Ev0DEMO0001", "slack", SLACK_INSTANCE,
                                "event_callback", APP_MENTION)
    wi_command = work_item_body(2, "discord#demo-discord#ia:200000000000000002", "discord",
                                DISCORD_INSTANCE, "application_command", DISCORD_COMMAND)
    wi_im = work_item_body(3, "slack#demo-slack#ev:Ev0DEMO0002", "slack", SLACK_INSTANCE,
                           "event_callback", MESSAGE_IM)
    consumer("batch", [sqs_record(1, wi_mention), sqs_record(2, wi_command)], [],
             note="Two valid WorkItems (Slack app-mention, Discord /ask); no batch item failures.")
    poison = sqs_record(3, compact({"v": 1, "this is": "not a work item"}))
    consumer("poison", [poison, sqs_record(4, wi_im)], [poison["messageId"]],
             note="A v1 body that is not a WorkItem, then a valid one (Slack message-im); only the first is a batch item failure.")

    # OAuth (no signatures: these are a user's browser requests)
    def oauth(step: str, case: str, query: dict[str, str], *, status: int, note: str) -> None:
        event = oauth_event(step=step, provider="generic-oauth2", query=query, request_no=next(req))
        cases.append((f"oauth-{step}-{case}.json", event, {
            "function": f"oauth-{step}", "provider": "generic-oauth2", "expect_status": status,
            "expect_duplicate": False, "note": note,
        }))

    oauth("start", "unsigned", {"instance_id": "demo-slack"}, status=403,
          note="an instance id alone is not a start link (`switchyard connection link` issues one)")
    oauth("start", "forged-signature", {"instance_id": "demo-slack", "exp": "4102444800",
                                        "nonce": "n", "sig": "AAAA"}, status=403,
          note="a link whose signature does not match: refused before any KMS call or write")
    oauth("callback", "forged-state", {"code": "abc", "state": "forged"}, status=400,
          note="a state that was never issued: refused, nothing stored")
    oauth("callback", "denied", {"error": "access_denied",
                                 "error_description": "The user denied access", "state": "unknown"},
          status=400, note="the user said no: shown on the page")

    # Tools: direct Lambda invocations by the agent runtime, and the IAM-authenticated HTTP route
    def tool(case: str, tool_id: str, event: dict, *, code: str | None, status: int | None, note: str) -> None:
        cases.append((f"tool-{case}.json", event, {
            "function": "tool", "tool": tool_id, "provider": None, "expect_status": status,
            "expect_error_code": code, "expect_duplicate": False, "note": note,
        }))

    # A direct invoke carries its agent token (Lambda tells the function nothing about the
    # invoker); the demo agent's is documented in shared/providers/src/demo.rs.
    tool("slack-post-message-invalid-input", "slack.post_message",
         {"instance_id": SLACK_INSTANCE, "agent_id": "demo-agent", "input": {"channel": 42, "text": "hi"},
          "trace_id": "trace-demo-1", "agent_token": DEMO_AGENT_TOKEN},
         code="invalid_input", status=None, note="direct invoke; channel must be a string: fails at /channel, no provider call")
    tool("gmail-send-message-invalid-input", "gmail.send_message",
         {"instance_id": "demo-google", "agent_id": "demo-agent",
          "input": {"to": [], "subject": "hi", "text": "hi"}, "trace_id": "trace-demo-2",
          "agent_token": DEMO_AGENT_TOKEN},
         code="invalid_input", status=None,
         note="direct invoke; a message needs a recipient: fails at /to before the instance, the connection or Google")
    tool("slack-post-message-unauthenticated", "slack.post_message",
         {"instance_id": SLACK_INSTANCE, "agent_id": "demo-agent", "input": {"channel": "C0GENERAL", "text": "hi"}},
         code="unauthenticated", status=None,
         note="direct invoke without an agent token: the agent_id in the payload proves nothing")
    http_tool = oauth_event(step="start", provider="slack", query={}, request_no=next(req))
    body = compact({"instance_id": "no-such-instance", "agent_id": "demo-agent",
                    "input": {"channel": "C0GENERAL", "text": "hi"}})
    http_tool.update({
        "routeKey": "POST /tools/slack/post_message", "rawPath": "/tools/slack/post_message",
        "pathParameters": {}, "body": body,
    })
    http_tool["headers"]["content-type"] = "application/json"
    http_tool["requestContext"]["routeKey"] = "POST /tools/slack/post_message"
    http_tool["requestContext"]["http"].update({"method": "POST", "path": "/tools/slack/post_message"})
    http_tool["requestContext"]["authorizer"] = {"iam": {"accountId": ACCOUNT_ID, "userArn": f"arn:aws:iam::{ACCOUNT_ID}:role/agent-runtime"}}
    tool("slack-post-message-http-unknown-instance", "slack.post_message", http_tool,
         code="not_found", status=404, note="over HTTP (IAM auth): an instance that does not exist")
    discovery = oauth_event(step="start", provider="x", query={"agent_id": "demo-agent"}, request_no=next(req))
    discovery.update({"routeKey": "GET /tools", "rawPath": "/tools", "pathParameters": {}})
    discovery["requestContext"]["routeKey"] = "GET /tools"
    discovery["requestContext"]["http"]["path"] = "/tools"
    discovery["requestContext"]["authorizer"] = {"iam": {"accountId": ACCOUNT_ID, "userArn": f"arn:aws:iam::{ACCOUNT_ID}:role/agent-runtime"}}
    tool("discovery", "discovery", discovery, code=None, status=200,
         note="the tools demo-agent may call (its Slack and Discord instances' methods)")

    # Scheduled (EventBridge schedule event, as `sam local generate-event eventbridge` shapes it)
    cases.append(("token-refresher-schedule.json", {
        "version": "0", "id": "00000000-0000-4000-8000-0000000000aa",
        "detail-type": "Scheduled Event", "source": "aws.events", "account": ACCOUNT_ID,
        "time": "2026-01-01T00:00:00Z", "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:{ACCOUNT_ID}:rule/switchyard-TokenRefreshFunctionEvery5Minutes"],
        "detail": {},
    }, {"function": "token-refresher", "provider": None, "expect_status": None,
        "expect_duplicate": False, "note": "the 5-minute schedule; refreshes tokens expiring within 15 minutes"}))
    from_samples()
    # MCP: the public routes of the MCP function (it authenticates bearer tokens itself)
    def mcp(case: str, method: str, path: str, body: str | None, *, status: int, note: str) -> None:
        event = oauth_event(step="start", provider="x", query={}, request_no=next(req))
        route_key = f"{method} {path}"
        event.update({"routeKey": route_key, "rawPath": path, "pathParameters": {}})
        event["requestContext"]["routeKey"] = route_key
        event["requestContext"]["http"].update({"method": method, "path": path})
        if body is not None:
            event["body"] = body
            event["headers"].update({"content-type": "application/json",
                                     "accept": "application/json, text/event-stream"})
        cases.append((f"mcp-{case}.json", event, {
            "function": "mcp", "provider": None, "expect_status": status,
            "expect_duplicate": False, "note": note,
        }))

    mcp("no-token", "POST", "/mcp", compact({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        status=401, note="no bearer token: 401 with WWW-Authenticate naming the protected resource metadata")
    mcp("resource-metadata", "GET", "/.well-known/oauth-protected-resource", None, status=200,
        note="RFC 9728 metadata: the resource and its authorization server")
    return cases


# ------------------------------------------------------------------ writing and verifying


def dump(value: object) -> str:
    return json.dumps(value, indent=2, sort_keys=True) + "\n"


def write(cases: list[tuple[str, dict, dict]]) -> None:
    OUT.mkdir(exist_ok=True)
    manifest = []
    for name, event, entry in cases:
        (OUT / name).write_text(dump(event), encoding="utf-8", newline="\n")
        # `clock`: the instant the event was signed for; `make invoke` pins the function's
        # clock to it (SWITCHYARD_CLOCK_PIN) so the signature is inside the replay window.
        manifest.append({"file": name, "clock": TS, **entry})
    (OUT / "manifest.json").write_text(
        dump({"timestamp": TS, "events": manifest}), encoding="utf-8", newline="\n"
    )


def verify_written() -> int:
    """Re-reads every written file and checks it independently of how it was built."""
    manifest = json.loads((OUT / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["timestamp"] == TS
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(DISCORD_PUBLIC_KEY_HEX))
    checked = 0
    for entry in manifest["events"]:
        name = entry["file"]
        event = json.loads((OUT / name).read_text(encoding="utf-8"))
        if entry["function"] in ("oauth-start", "oauth-callback", "token-refresher", "tool", "mcp"):
            checked += 1
            continue
        if entry["function"] == "ingress-consumer":
            ids = [r["messageId"] for r in event["Records"]]
            assert len(set(ids)) == len(ids), f"{name}: duplicate messageId"
            assert set(entry["expect_failed_message_ids"]) <= set(ids), name
            for r in event["Records"]:
                assert r["md5OfBody"] == hashlib.md5(r["body"].encode()).hexdigest(), name
                body = json.loads(r["body"])
                is_item = all(k in body for k in ("v", "id", "delivery_key", "provider",
                                                  "instance_id", "kind", "received_at", "payload"))
                failed = r["messageId"] in entry["expect_failed_message_ids"]
                assert is_item != failed, f"{name}: {r['messageId']} work-item/failure mismatch"
            checked += 1
            continue

        h = event["headers"]
        body = event["body"].encode("utf-8")
        if entry["provider"] not in ("slack", "discord"):
            # Signed by the sample's author; `cargo test` verifies every sample's signature.
            sample = provider_samples()[entry["provider"]]
            request = next(r for r in sample["requests"] if name.startswith(
                f"{entry['provider']}-webhook-{r['name']}"))
            assert (event["body"] == request["body"]) == (entry["expect_status"] == 200), name
            checked += 1
            continue
        assert not event["isBase64Encoded"], name
        assert h["content-length"] == str(len(body)), name
        assert event["rawPath"] == event["requestContext"]["http"]["path"], name
        assert event["rawPath"].endswith("/" + event["pathParameters"]["instance_id"]), name
        assert event["routeKey"] == event["requestContext"]["routeKey"], name
        if entry["provider"] == "slack":
            ts = int(h["x-slack-request-timestamp"])
            sig_ok = hmac.compare_digest(
                "v0=" + hmac.new(SLACK_SIGNING_SECRET.encode(), f"v0:{ts}:".encode() + body,
                                 hashlib.sha256).hexdigest(),
                h["x-slack-signature"],
            )
        else:
            ts = int(h["x-signature-timestamp"])
            try:
                public.verify(bytes.fromhex(h["x-signature-ed25519"]), str(ts).encode() + body)
                sig_ok = True
            except InvalidSignature:
                sig_ok = False
        fresh = abs(TS - ts) <= TOLERANCE_SECS
        if name.endswith("-bad-signature.json"):
            assert entry["expect_status"] == 401 and fresh, name
            assert not sig_ok, f"{name}: the bad signature verifies"
        elif name.endswith("-stale-timestamp.json"):
            assert entry["expect_status"] == 401 and sig_ok, f"{name}: must be signed correctly"
            assert not fresh, f"{name}: timestamp inside the window"
        else:
            assert entry["expect_status"] != 401, name
            assert sig_ok, f"{name}: signature does not verify"
            assert fresh, f"{name}: timestamp outside the window"
        checked += 1

    # The duplicate carries exactly its original's body and signature.
    orig = json.loads((OUT / "slack-webhook-app-mention.json").read_text())
    retry = json.loads((OUT / "slack-webhook-app-mention-retry.json").read_text())
    assert orig["body"] == retry["body"]
    assert orig["headers"]["x-slack-signature"] == retry["headers"]["x-slack-signature"]
    return checked


def main() -> int:
    self_checks()
    cases = build()
    names = [name for name, _, _ in cases]
    assert len(set(names)) == len(names)
    write(cases)
    expected = set(names) | {"manifest.json"}
    stray = sorted(p.name for p in OUT.glob("*.json") if p.name not in expected)
    if stray:
        print(f"warning: events/ holds files this script does not write: {stray}", file=sys.stderr)
    checked = verify_written()
    print(f"wrote {len(cases)} events + manifest.json to {OUT}; self-checks passed; "
          f"{checked} files re-verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
