#!/usr/bin/env python3
"""Check Switchyard's integration definitions (shared/integrations/*.json).

Usage: python3 infra/check_definitions.py [FILE.json ...]

Structural checks need only the standard library. When the `jsonschema` package is importable,
every schema is also checked against JSON Schema draft 2020-12 and a few sample inputs and
provider responses (run through the `x-switchyard` output mapping) are validated; otherwise
those steps are skipped with a note. Exit status 1 when any check fails.
"""

import json
import pathlib
import re
import sys

try:
    import jsonschema  # type: ignore
except ImportError:  # structural checks only
    jsonschema = None

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT / "shared" / "integrations"

SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
TOP_KEYS = ["integrationId", "name", "description", "version", "type", "methods", "configSchema", "authType"]
TYPES = {"integration", "ai", "documents", "database"}
AUTH_TYPES = {"oauth2", "apikey", "custom"}
PROVIDERS = {"slack", "discord", "notion", "http", "google", "llm", "media", "pinecone", "whatsapp", "tiktok", "email", "shopify"}
HANDLERS = {"discord_followup", "notion_append_blocks", "secure_http", "gmail_send", "gmail_draft", "gmail_get",
            "calendar_write_event", "drive_export", "drive_upload", "docs_get", "docs_append", "docs_replace",
            "llm_generate_text", "llm_embed", "llm_analyze_image",
            "media_generate_image", "media_synthesize_speech", "media_transcribe_audio",
            "kb_ingest", "kb_search", "kb_delete", "vector_upsert", "vector_query", "vector_delete",
            "whatsapp_send_template", "whatsapp_send_message", "whatsapp_templates_list",
            "whatsapp_templates_create", "whatsapp_templates_status", "whatsapp_media_upload",
            "tiktok_user_info", "tiktok_video_list", "tiktok_research_video_query",
            "tiktok_research_hashtag_query",
            "email_send", "email_send_batch",
            "shopify_orders_list", "shopify_order_get", "shopify_products_list", "shopify_product_update",
            "shopify_inventory_adjust", "shopify_customers_list", "shopify_shop_get", "shopify_themes_list",
            "shopify_theme_publish", "shopify_script_tags_list", "shopify_script_tag_delete",
            "shopify_bulk_run", "shopify_bulk_status"}
METHOD_KEYS = {"id", "name", "description", "inputSchema", "outputSchema", "x-switchyard"}
INTEGRATION_X_KEYS = {"provider", "baseUrl", "credential", "headers", "okField", "rateLimitErrors", "internal", "apiKeys"}
METHOD_X_KEYS = {"http", "output", "pagination", "handler", "guardrails", "guardrailKinds", "costPerCall", "retrySafe", "secretParams", "scopes", "readOnly", "destructive", "queryCost", "background"}
HTTP_KEYS = {"method", "path", "body", "auth", "query"}
HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}
PAGINATION_KEYS = {"cursorParam", "nextCursor", "items", "maxPagesField", "cursorIn"}
# Input fields that steer the executor and are never sent to the provider.
CONTROL_FIELDS = {"max_pages", "action"}


class Report:
    def __init__(self):
        self.errors = []
        self.notes = []

    def err(self, where, msg):
        self.errors.append(f"{where}: {msg}")


def pointer_tokens(ptr):
    """Split an RFC 6901 JSON pointer; None when malformed."""
    if not isinstance(ptr, str) or (ptr and not ptr.startswith("/")):
        return None
    if ptr == "":
        return []
    out = []
    for tok in ptr[1:].split("/"):
        if re.search(r"~(?![01])", tok):
            return None
        out.append(tok.replace("~1", "/").replace("~0", "~"))
    return out


def resolve_pointer(doc, ptr):
    cur = doc
    for tok in pointer_tokens(ptr) or []:
        if isinstance(cur, dict) and tok in cur:
            cur = cur[tok]
        elif isinstance(cur, list) and tok.isdigit() and int(tok) < len(cur):
            cur = cur[int(tok)]
        else:
            return None, False
    return cur, True


def schema_at_pointer(schema, ptr):
    """The property schema a pointer into an instance lands on, following `properties` (and
    $ref into the same schema's $defs). None when a segment is not a declared property."""
    cur = schema
    for tok in pointer_tokens(ptr) or []:
        cur = deref(schema, cur)
        props = cur.get("properties") if isinstance(cur, dict) else None
        if not isinstance(props, dict) or tok not in props:
            return None
        cur = props[tok]
    return deref(schema, cur)


def deref(root, sub):
    if isinstance(sub, dict) and isinstance(sub.get("$ref"), str) and sub["$ref"].startswith("#/"):
        target, found = resolve_pointer(root, sub["$ref"][1:])
        return target if found else sub
    return sub


def types_of(sub):
    t = sub.get("type") if isinstance(sub, dict) else None
    if t is None:
        return None
    return {t} if isinstance(t, str) else set(t)


def check_object_schema(rep, where, schema, is_input):
    if not isinstance(schema, dict):
        rep.err(where, "must be a JSON object")
        return
    if schema.get("type") != "object":
        rep.err(where, 'must have "type": "object"')
    props = schema.get("properties")
    if not isinstance(props, dict):
        rep.err(where, "must have a `properties` object")
        return
    req = schema.get("required", [])
    if not isinstance(req, list) or len(set(req)) != len(req):
        rep.err(where, "`required` must be a list without duplicates")
        req = []
    for r in req:
        if r not in props:
            rep.err(where, f"required field {r!r} is not a declared property")
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []):
        for r in branch.get("required", []):
            if r not in props:
                rep.err(where, f"anyOf/oneOf requires undeclared property {r!r}")
    for name, sub in props.items():
        if not isinstance(sub, dict):
            rep.err(where, f"property {name!r} must be a schema object")
        elif not isinstance(sub.get("description"), str) or not sub["description"].strip():
            rep.err(where, f"property {name!r} needs a description")
    if is_input and schema.get("additionalProperties") is not False:
        rep.err(where, "input schema must set additionalProperties: false")
    if not is_input and schema.get("additionalProperties") is False:
        rep.err(where, "output schema must not set additionalProperties: false (providers add fields)")


def check_pointer_list(rep, where, schema, pointers):
    if not isinstance(pointers, list):
        rep.err(where, "guardrails must be a list of JSON pointers")
        return
    for ptr in pointers:
        if pointer_tokens(ptr) in (None, []):
            rep.err(where, f"{ptr!r} is not a JSON pointer to a field")
        elif schema_at_pointer(schema, ptr) is None:
            rep.err(where, f"{ptr!r} does not point at a declared input property")


def check_method_x(rep, where, method, integration_x, auth_type=None):
    x = method.get("x-switchyard")
    if not isinstance(x, dict):
        rep.err(where, "missing `x-switchyard` object")
        return
    for k in x:
        if k not in METHOD_X_KEYS:
            rep.err(where, f"unknown x-switchyard key {k!r}")
    inp = method.get("inputSchema") or {}
    outp = method.get("outputSchema") or {}
    props = inp.get("properties") or {}
    required = set(inp.get("required") or [])

    handler = x.get("handler")
    if handler is not None and handler not in HANDLERS:
        rep.err(where, f"handler {handler!r} is not one of {sorted(HANDLERS)}")

    http = x.get("http")
    placeholders = set()
    if http is None:
        if handler is None:
            rep.err(where, "needs `http` unless a handler performs the call")
    elif not isinstance(http, dict):
        rep.err(where, "`http` must be an object")
    else:
        for k in http:
            if k not in HTTP_KEYS:
                rep.err(where, f"unknown http key {k!r}")
        if http.get("method") not in HTTP_METHODS:
            rep.err(where, f"http.method {http.get('method')!r} not in {sorted(HTTP_METHODS)}")
        path = http.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            rep.err(where, "http.path must be a string starting with '/'")
            path = ""
        if http.get("body") not in ("json", "none"):
            rep.err(where, 'http.body must be "json" or "none"')
        if not isinstance(http.get("auth"), bool):
            rep.err(where, "http.auth must be a boolean")
        # An OAuth integration may authenticate with the instance's connection alone.
        if http.get("auth") and not integration_x.get("credential") and auth_type != "oauth2":
            rep.err(where, "http.auth is true but the integration names no credential")
        q = http.get("query", {})
        if not isinstance(q, dict) or not all(isinstance(v, str) for v in q.values()):
            rep.err(where, "http.query must map names to string values")
        if path.count("{") != path.count("}"):
            rep.err(where, f"unbalanced braces in path {path!r}")
        for ph in PLACEHOLDER.findall(path):
            placeholders.add(ph)
            sub = deref(inp, props.get(ph))
            if sub is None:
                rep.err(where, f"path placeholder {{{ph}}} is not an input property")
                continue
            if ph not in required:
                rep.err(where, f"path placeholder {{{ph}}} must be a required input field")
            if types_of(sub) != {"string"}:
                rep.err(where, f"path placeholder {{{ph}}} must be a string property")
        if http.get("body") == "none":
            for name, sub in props.items():
                if name in placeholders or name in CONTROL_FIELDS:
                    continue
                t = types_of(deref(inp, sub))
                if t is None or t & {"object", "array"}:
                    rep.err(where, f"body none sends fields as query parameters, but {name!r} is not scalar")

    for name in CONTROL_FIELDS & set(props):
        if name == "action" and handler is None:
            rep.err(where, "`action` is a control field only a handler can act on")
        if name == "max_pages" and not (x.get("pagination") or {}).get("maxPagesField") == "max_pages":
            rep.err(where, "`max_pages` is declared but pagination does not use it")

    output = x.get("output")
    out_props = outp.get("properties") or {}
    if output == "$":
        pass
    elif isinstance(output, dict):
        for key, ptr in output.items():
            if pointer_tokens(ptr) is None:
                rep.err(where, f"output.{key}: {ptr!r} is not a JSON pointer")
            if key not in out_props:
                rep.err(where, f"output field {key!r} is not declared in outputSchema")
        if handler is None:
            for r in outp.get("required") or []:
                if r not in output:
                    rep.err(where, f"outputSchema requires {r!r} but the output mapping never sets it")
    elif output is not None or handler is None:
        # A handler builds its own output; a mapping is optional there.
        rep.err(where, 'output must be "$" or an object of JSON pointers')

    pag = x.get("pagination")
    if pag is not None:
        if not isinstance(pag, dict):
            rep.err(where, "pagination must be an object")
        else:
            for k in pag:
                if k not in PAGINATION_KEYS:
                    rep.err(where, f"unknown pagination key {k!r}")
            for k in ("cursorParam", "nextCursor", "items", "maxPagesField"):
                if not isinstance(pag.get(k), str):
                    rep.err(where, f"pagination.{k} is required")
            cp = pag.get("cursorParam")
            if cp is not None and cp not in props:
                rep.err(where, f"pagination cursorParam {cp!r} is not an input property")
            for k in ("nextCursor", "items"):
                if pointer_tokens(pag.get(k)) in (None, []):
                    rep.err(where, f"pagination.{k} must be a JSON pointer into the response")
            items = pointer_tokens(pag.get("items")) or [""]
            if items[-1] not in out_props:
                rep.err(where, f"paginated items field {items[-1]!r} is not an output property")
            elif types_of(out_props[items[-1]]) != {"array"}:
                rep.err(where, f"paginated items field {items[-1]!r} must be an array")
            mp = pag.get("maxPagesField")
            sub = props.get(mp) if mp else None
            if mp and (
                not isinstance(sub, dict)
                or types_of(sub) != {"integer"}
                or sub.get("minimum") != 1
                or sub.get("maximum") != 10
                or sub.get("default") != 1
            ):
                rep.err(where, f"maxPagesField {mp!r} must be an integer input property, minimum 1, maximum 10, default 1")
            cin = pag.get("cursorIn", "query" if (http or {}).get("body") == "none" else "body")
            if cin not in ("query", "body"):
                rep.err(where, 'pagination.cursorIn must be "query" or "body"')
            if cin == "body" and (http or {}).get("body") == "none":
                rep.err(where, 'cursorIn "body" but the request has no body')

    if "guardrails" in x:
        check_pointer_list(rep, where + " guardrails", inp, x["guardrails"])
    if "retrySafe" in x and not isinstance(x["retrySafe"], bool):
        rep.err(where, "retrySafe must be true or false")
    for flag in ("readOnly", "destructive"):
        if flag in x and not isinstance(x[flag], bool):
            rep.err(where, f"{flag} must be true or false")
    if "retrySafe" in x and x.get("handler") == "secure_http":
        rep.err(where, "retrySafe cannot be set on secure_http")
    for name in x.get("secretParams", []):
        if name not in (inp.get("properties") or {}):
            rep.err(where, f"secret param {name!r} is not an input field")


def check_definition(rep, path):
    where = path.name
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        rep.err(where, f"cannot load: {e}")
        return None
    if not isinstance(d, dict):
        rep.err(where, "top level must be an object")
        return None
    for k in TOP_KEYS:
        if k not in d:
            rep.err(where, f"missing top-level key {k!r}")
    for k in ("integrationId", "name", "description"):
        if k in d and (not isinstance(d[k], str) or not d[k].strip()):
            rep.err(where, f"{k} must be a non-empty string")
    if d.get("integrationId") != path.stem:
        rep.err(where, f"integrationId {d.get('integrationId')!r} should match the file name")
    if not isinstance(d.get("version"), str) or not SEMVER.match(d["version"]):
        rep.err(where, f"version {d.get('version')!r} is not semver")
    if d.get("type") not in TYPES:
        rep.err(where, f"type {d.get('type')!r} not in {sorted(TYPES)}")
    if d.get("authType") not in AUTH_TYPES:
        rep.err(where, f"authType {d.get('authType')!r} not in {sorted(AUTH_TYPES)}")
    if d.get("authType") == "oauth2":
        oc = d.get("oauth2Config")
        if not isinstance(oc, dict):
            rep.err(where, "authType oauth2 needs oauth2Config")
        else:
            for k in ("authorizationUrl", "tokenUrl"):
                if not isinstance(oc.get(k), str) or not oc[k].startswith("https://"):
                    rep.err(where, f"oauth2Config.{k} must be an https URL")
            if not isinstance(oc.get("scopes"), list) or not all(isinstance(s, str) for s in oc["scopes"]):
                rep.err(where, "oauth2Config.scopes must be a list of strings")
    elif "oauth2Config" in d:
        rep.err(where, "oauth2Config given but authType is not oauth2")

    x = d.get("x-switchyard")
    if not isinstance(x, dict):
        rep.err(where, "missing integration-level `x-switchyard`")
        x = {}
    for k in x:
        if k not in INTEGRATION_X_KEYS:
            rep.err(where, f"unknown integration x-switchyard key {k!r}")
    if x.get("provider") not in PROVIDERS:
        rep.err(where, f"x-switchyard.provider {x.get('provider')!r} not in {sorted(PROVIDERS)}")
    if "baseUrl" in x and (not isinstance(x["baseUrl"], str) or not x["baseUrl"].startswith("https://") or x["baseUrl"].endswith("/")):
        rep.err(where, "x-switchyard.baseUrl must be an https URL without a trailing slash")
    # An integration whose every method is a handler finds its host itself (e.g. a Pinecone
    # index host in the instance's configuration).
    all_handlers = all((m.get("x-switchyard") or {}).get("handler") for m in d.get("methods") or [])
    if x.get("provider") not in ("http", None) and "baseUrl" not in x and not all_handlers:
        rep.err(where, "x-switchyard.baseUrl is required for API providers")
    cred = x.get("credential")
    if cred is not None:
        if not isinstance(cred, dict) or not isinstance(cred.get("secret"), str):
            rep.err(where, "x-switchyard.credential needs a `secret` name")
        elif set(cred) - {"secret", "scheme"}:
            rep.err(where, f"unknown credential keys {sorted(set(cred) - {'secret', 'scheme'})}")
        elif "scheme" in cred and not isinstance(cred["scheme"], str):
            rep.err(where, "credential.scheme must be a string")
    hdrs = x.get("headers", {})
    if not isinstance(hdrs, dict) or not all(isinstance(v, str) for v in hdrs.values()):
        rep.err(where, "x-switchyard.headers must map names to strings")
    if "okField" in x and pointer_tokens(x["okField"]) in (None, []):
        rep.err(where, "x-switchyard.okField must be a JSON pointer")

    cfg = d.get("configSchema")
    check_object_schema(rep, where + " configSchema", cfg, is_input=False)
    if d.get("authType") == "oauth2" and isinstance(cfg, dict):
        for k in ("api_base_url", "connection_id", "breaker_threshold", "breaker_window_secs", "breaker_cooldown_secs"):
            if k not in (cfg.get("properties") or {}):
                rep.err(where, f"configSchema lacks {k!r}")

    methods = d.get("methods")
    if not isinstance(methods, list) or not methods:
        rep.err(where, "methods must be a non-empty list")
        return d
    seen = set()
    for i, m in enumerate(methods):
        mw = f"{where} methods[{i}]"
        if not isinstance(m, dict):
            rep.err(mw, "must be an object")
            continue
        mid = m.get("id")
        mw = f"{where} {mid or f'methods[{i}]'}"
        if not isinstance(mid, str) or not re.match(r"^[a-z][a-z0-9_]*$", mid):
            rep.err(mw, "id must be snake_case")
        if mid in seen:
            rep.err(mw, "duplicate method id")
        seen.add(mid)
        for k in METHOD_KEYS:
            if k not in m:
                rep.err(mw, f"missing {k!r}")
        for k in m:
            if k not in METHOD_KEYS:
                rep.err(mw, f"unknown method key {k!r}")
        check_object_schema(rep, mw + " inputSchema", m.get("inputSchema"), is_input=True)
        check_object_schema(rep, mw + " outputSchema", m.get("outputSchema"), is_input=False)
        check_method_x(rep, mw, m, x, d.get("authType"))
    return d


def json_pointer_map(response, mapping):
    """The executor's output mapping, for samples: absent pointers leave the field out."""
    if mapping == "$":
        return response
    out = {}
    for key, ptr in mapping.items():
        val, found = resolve_pointer(response, ptr)
        if found:
            out[key] = val
    return out


# Samples: (integration, method, input that must validate, inputs that must not, provider response).
SAMPLES = [
    ("slack", "post_message", {"channel": "C0123456789", "text": "hello", "thread_ts": "1712345678.123456"},
     [{"channel": "C0123456789"}, {"channel": "C0123456789", "text": "x", "as_user": True}, {"text": "hi"}],
     {"ok": True, "channel": "C0123456789", "ts": "1712345678.123456",
      "message": {"type": "message", "text": "hello", "user": "U0123", "bot_id": "B0123", "ts": "1712345678.123456"},
      "response_metadata": {"warnings": ["missing_charset"]}}),
    ("slack", "schedule_message", {"channel": "C1", "post_at": 1900000000, "blocks": [{"type": "divider"}]},
     [{"channel": "C1", "text": "x"}, {"channel": "C1", "post_at": "soon", "text": "x"}],
     {"ok": True, "channel": "C1", "scheduled_message_id": "Q1298393284", "post_at": 1900000000,
      "message": {"type": "delayed_message", "text": "x", "bot_id": "B1", "user": "U1", "team": "T1"}}),
    ("slack", "conversations_history", {"channel": "C1", "limit": 200, "oldest": "1712345678.000000", "max_pages": 3},
     [{"channel": "C1", "limit": 1000}, {"channel": "C1", "max_pages": 11}],
     {"ok": True, "messages": [{"type": "message", "user": "U1", "text": "hi", "ts": "1712345678.000100"},
                               {"type": "message", "subtype": "bot_message", "bot_id": "B1", "text": "x", "ts": "1712345677.000100"}],
      "has_more": False, "pin_count": 0}),
    ("discord", "interaction_followup",
     {"application_id": "222", "interaction_token": "aW50ZXJhY3Rpb24", "content": "done", "flags": 64},
     [{"application_id": "222", "interaction_token": "t", "action": "reply", "content": "x"},
      {"application_id": "222", "interaction_token": "t", "embeds": [{}] * 11}],
     {"id": "1300000000000000001", "channel_id": "1200000000000000001", "content": "done", "type": 0,
      "timestamp": "2025-01-01T00:00:00.000000+00:00", "flags": 64, "webhook_id": "222"}),
    ("discord", "send_channel_message",
     {"channel_id": "1200000000000000001", "embeds": [{"title": "Build", "color": 3066993,
                                                       "fields": [{"name": "status", "value": "green", "inline": True}]}],
      "allowed_mentions": {"parse": []}},
     [{"channel_id": "1200000000000000001"}, {"channel_id": "1200000000000000001", "content": "x" * 2001},
      {"channel_id": "../../users/@me", "content": "x"}],
     {"id": "1300000000000000002", "channel_id": "1200000000000000001", "content": "", "type": 0,
      "timestamp": "2025-01-01T00:00:00.000000+00:00", "edited_timestamp": None, "embeds": []}),
    ("notion", "create_page",
     {"parent": {"type": "data_source_id", "data_source_id": "1c6b35e6-e67f-8096-bf3f-000ba938459e"},
      "properties": {"Name": {"title": [{"text": {"content": "Hi"}}]}}},
     [{"parent": {"page_id": "a", "data_source_id": "b"}}, {"parent": {}}, {"properties": {}}],
     {"object": "page", "id": "2c6b35e6-e67f-8096-bf3f-000ba938459e", "url": "https://www.notion.so/Hi-2c6b35e6",
      "in_trash": False, "properties": {}}),
    ("notion", "query_data_source", {"data_source_id": "d1", "page_size": 100, "max_pages": 2},
     [{"data_source_id": "d1", "page_size": 101}],
     {"object": "list", "results": [{"object": "page", "id": "p1"}], "next_cursor": None, "has_more": False,
      "type": "page_or_data_source"}),
    ("notion", "append_blocks",
     {"block_id": "b1", "children": [{"type": "paragraph", "paragraph": {"rich_text": []}}]},
     [{"block_id": "b1", "children": []}], None),
    ("notion", "retrieve_page", {"page_id": "p1"}, [{"page_id": "p1", "filter_properties": "x"}],
     {"object": "page", "id": "p1", "url": "https://www.notion.so/p1", "properties": {},
      "parent": {"type": "page_id", "page_id": "p0"}}),
    ("http", "secure_http_request",
     {"method": "POST", "url": "https://api.example.com/v1/items", "headers": {"Accept": "application/json"},
      "body": {"name": "x"}},
     [{"url": "file:///etc/passwd"}, {"url": "https://a.example", "method": "TRACE"},
      {"url": "https://a.example", "headers": {"X-N": 1}}],
     {"status": 200, "headers": {"content-type": "application/json"}, "body": {"ok": True},
      "final_url": "https://api.example.com/v1/items", "redirects": 0}),
]


def check_with_jsonschema(rep, defs):
    v = jsonschema.Draft202012Validator
    fmt = getattr(v, "FORMAT_CHECKER", None) or jsonschema.FormatChecker()
    for iid, d in defs.items():
        schemas = [("configSchema", d.get("configSchema"))]
        for m in d.get("methods") or []:
            schemas += [(f"{m.get('id')} inputSchema", m.get("inputSchema")),
                        (f"{m.get('id')} outputSchema", m.get("outputSchema"))]
        for name, s in schemas:
            try:
                v.check_schema(s)
            except jsonschema.exceptions.SchemaError as e:
                rep.err(f"{iid}.json {name}", f"not a valid draft 2020-12 schema: {e.message}")
    for iid, mid, good, bad, response in SAMPLES:
        d = defs.get(iid)
        if d is None:
            continue
        m = next((m for m in d.get("methods") or [] if m.get("id") == mid), None)
        if m is None:
            rep.err(f"{iid}.json", f"sample method {mid!r} is not defined")
            continue
        where = f"{iid}.json {mid} sample"
        iv = v(m["inputSchema"], format_checker=fmt)
        for e in iv.iter_errors(good):
            rep.err(where, f"valid input rejected: {e.message}")
        for b in bad:
            if iv.is_valid(b):
                rep.err(where, f"invalid input accepted: {json.dumps(b)[:120]}")
        if response is not None:
            out = json_pointer_map(response, m["x-switchyard"].get("output", "$"))
            for e in v(m["outputSchema"]).iter_errors(out):
                rep.err(where, f"mapped provider response rejected: {e.message}")


def main(argv):
    files = [pathlib.Path(a) for a in argv] or sorted(p for p in DEFAULT_DIR.glob("*.json") if p.name != "prices.json")
    rep = Report()
    if not files:
        rep.err(str(DEFAULT_DIR), "no definition files found")
    defs = {}
    ids = set()
    for f in files:
        d = check_definition(rep, f)
        if isinstance(d, dict):
            iid = d.get("integrationId")
            if iid in ids:
                rep.err(f.name, f"duplicate integrationId {iid!r}")
            ids.add(iid)
            defs[iid] = d
    if jsonschema is None:
        rep.notes.append("jsonschema not importable: structural checks only")
    else:
        check_with_jsonschema(rep, defs)
    for n in rep.notes:
        print(f"note: {n}")
    for e in rep.errors:
        print(f"error: {e}")
    nmethods = sum(len(d.get("methods") or []) for d in defs.values())
    status = "FAILED" if rep.errors else "ok"
    print(f"{status}: {len(files)} definition(s), {nmethods} method(s), {len(rep.errors)} error(s)")
    return 1 if rep.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
