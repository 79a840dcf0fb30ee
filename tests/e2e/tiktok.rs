//! The TikTok tools end to end (emulator): every tool through the real pipeline (OAuth
//! connection from the vault, declared scopes, provider call, receipt) against the loopback
//! TikTok fake (`tests/tiktok-fake`): cursor pagination, the error envelope, research date-range
//! and daily-quota refusals, and a missing scope refused with no call.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use switchyard::connections::{Connection, Status};
use switchyard::oauth::vault;
use switchyard::secret::SecretString;
use switchyard::tools::ToolResponse;
use switchyard_tiktok_fake::TikTokFake;

use crate::support::Stack;

const AGENT: &str = "agent-tt";
const INSTANCE: &str = "tt";
const TOKEN: &str = "act.fake-tiktok-user-token";

struct TikTok {
    stack: Stack,
    fake: TikTokFake,
}

impl TikTok {
    /// An instance whose connection holds [`TOKEN`] granted `scopes` (the fake grants the token
    /// every scope, so only the gateway's own check can refuse), with `extra` config.
    async fn new(scopes: &[&str], extra: &[(&str, &str)]) -> Self {
        let stack = Stack::new().await;
        let fake = TikTokFake::start(45).await;
        fake.grant(
            TOKEN,
            &["user.info.basic", "video.list", "research.data.basic"],
        );
        let app = &stack.app;
        let connection_id = "conn-tiktok-1";
        let sealed = app
            .keyring
            .seal_for(
                "tiktok",
                vault::CONTEXT,
                connection_id,
                &BTreeMap::from([("access_token".to_owned(), SecretString::from(TOKEN))]),
            )
            .await
            .expect("seal");
        let now = app.clock.now();
        let connection = Connection {
            id: connection_id.into(),
            instance_id: INSTANCE.into(),
            provider: "tiktok".into(),
            workspace: "acme".into(),
            auth_type: "oauth2".into(),
            account_id: Some("-000OV8I0Ok4NBWt3FE0Kzbn5c7xJsE2rmd1".into()),
            account_name: None,
            account_email: None,
            owner: None,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            status: Status::Active,
            token_expires_at: None,
            token_issued_at: Some(now),
            has_refresh_token: false,
            sealed: Some(sealed),
            version: 0,
            lease_until: None,
            created_at: now,
            updated_at: now,
            last_refreshed_at: None,
            last_error: None,
        };
        app.connections
            .upsert(&connection, now)
            .await
            .expect("connection");
        let mut settings: Vec<(String, String)> = [
            ("client_id", "aw-client-key"),
            ("client_secret", "client-secret"),
            ("api_base_url", fake.base_url.as_str()),
            ("connection_id", connection_id),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        settings.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        switchyard_ops::admin::create_instance(app, "tiktok", INSTANCE, "acme", &settings)
            .await
            .expect("instance");
        switchyard_ops::admin::grant(app, INSTANCE, AGENT, &Default::default())
            .await
            .expect("grant");
        Self { stack, fake }
    }

    async fn call(&self, tool: &str, input: Value) -> ToolResponse {
        crate::support::call_tool(&self.stack.app, AGENT, INSTANCE, tool, input).await
    }

    async fn ok(&self, tool: &str, input: Value) -> Value {
        match self.call(tool, input).await {
            ToolResponse::Ok { output, .. } => output,
            ToolResponse::Err { error, .. } => panic!("{tool} failed: {error:?}"),
        }
    }

    async fn err(&self, tool: &str, input: Value) -> (String, String, bool) {
        match self.call(tool, input).await {
            ToolResponse::Ok { output, .. } => panic!("{tool} succeeded: {output}"),
            ToolResponse::Err { error, .. } => (
                error.code.as_str().to_owned(),
                error.message,
                error.retryable,
            ),
        }
    }
}

const ALL: &[&str] = &["user.info.basic", "video.list", "research.data.basic"];

#[tokio::test]
async fn user_info_and_video_pages_follow_the_cursor() {
    let tt = TikTok::new(ALL, &[]).await;
    let user = tt
        .ok(
            "tiktok.user_info",
            json!({"fields": ["open_id", "display_name"]}),
        )
        .await;
    assert_eq!(user["user"]["display_name"], json!("Fake Creator"));
    assert!(
        user["user"].get("avatar_url").is_none(),
        "only the fields asked for"
    );
    let query = &tt.fake.requests()[0].query;
    assert!(query.contains("fields=open_id%2Cdisplay_name"), "{query}");

    // 45 videos, 20 a page: three pages by cursor, newest first, no video twice.
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<Value> = None;
    let mut pages = 0;
    loop {
        let mut input = json!({"max_count": 20});
        if let Some(c) = &cursor {
            input["cursor"] = c.clone();
        }
        let page = tt.ok("tiktok.video_list", input).await;
        pages += 1;
        seen.extend(
            page["videos"]
                .as_array()
                .expect("videos")
                .iter()
                .map(|v| v["id"].as_str().expect("id").to_owned()),
        );
        if page["has_more"] != json!(true) {
            break;
        }
        cursor = Some(page["cursor"].clone());
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, tt.fake.video_ids());
    // The same in one call following pages.
    let all = tt
        .ok("tiktok.video_list", json!({"max_count": 20, "pages": 5}))
        .await;
    assert_eq!(all["videos"].as_array().map(Vec::len), Some(45));
    assert_eq!(all["has_more"], json!(false));
    // max_count over 20 is refused by the schema, before any call.
    let before = tt.fake.requests().len();
    let (code, _, _) = tt.err("tiktok.video_list", json!({"max_count": 21})).await;
    assert_eq!(code, "invalid_input");
    assert_eq!(tt.fake.requests().len(), before);
}

#[tokio::test]
async fn research_queries_filter_page_and_validate_dates_before_calling() {
    let tt = TikTok::new(ALL, &[]).await;
    let query = json!({"and": [{"field_name": "region_code", "operation": "IN", "field_values": ["US", "CA"]}],
                       "not": [{"field_name": "hashtag_name", "operation": "EQ", "field_values": ["dogs"]}]});
    let first = tt
        .ok(
            "tiktok.research_video_query",
            json!({"query": query, "start_date": "20260101", "end_date": "20260131", "max_count": 2}),
        )
        .await;
    let videos = first["videos"].as_array().expect("videos");
    assert_eq!(videos.len(), 2);
    assert!(
        videos.iter().all(|v| v["region_code"] == json!("US")),
        "{first}"
    );
    assert_eq!(first["has_more"], json!(true));
    let second = tt
        .ok(
            "tiktok.research_video_query",
            json!({"query": query, "start_date": "20260101", "end_date": "20260131", "max_count": 2,
                   "cursor": first["cursor"], "search_id": first["search_id"]}),
        )
        .await;
    assert_eq!(second["search_id"], first["search_id"]);
    assert_eq!(second["has_more"], json!(false), "4 US videos in January");

    let tagged = tt
        .ok(
            "tiktok.research_hashtag_query",
            json!({"hashtags": ["#Cooking"], "region_codes": ["DE"], "start_date": "20260101", "end_date": "20260115"}),
        )
        .await;
    let tagged = tagged["videos"].as_array().expect("videos");
    assert!(!tagged.is_empty());
    assert!(tagged.iter().all(|v| v["hashtag_names"]
        .as_array()
        .is_some_and(|h| h.contains(&json!("cooking")))));

    // A range over 30 days, backwards, or not a date: refused with no call.
    let before = tt.fake.requests().len();
    for (start, end) in [
        ("20260101", "20260201"),
        ("20260110", "20260109"),
        ("20260231", "20260301"),
    ] {
        let (code, message, _) = tt
            .err(
                "tiktok.research_video_query",
                json!({"query": query, "start_date": start, "end_date": end}),
            )
            .await;
        assert_eq!(code, "invalid_input", "{start}..{end}: {message}");
    }
    assert_eq!(tt.fake.requests().len(), before, "no provider call");
}

#[tokio::test]
async fn the_daily_research_quota_refuses_without_a_call() {
    let tt = TikTok::new(ALL, &[("research_daily_quota", "2")]).await;
    let input = json!({"hashtags": ["cats"], "start_date": "20260101", "end_date": "20260110"});
    tt.ok("tiktok.research_hashtag_query", input.clone()).await;
    tt.ok("tiktok.research_hashtag_query", input.clone()).await;
    let before = tt.fake.requests().len();
    let (code, message, retryable) = tt.err("tiktok.research_hashtag_query", input).await;
    assert_eq!(code, "quota_exceeded", "{message}");
    assert!(!retryable);
    assert_eq!(tt.fake.requests().len(), before, "no provider call");
    // Other tools are not research requests.
    tt.ok("tiktok.user_info", json!({})).await;
}

#[tokio::test]
async fn a_missing_scope_is_refused_with_no_call_and_envelope_errors_are_typed() {
    let tt = TikTok::new(&["user.info.basic"], &[]).await;
    for (tool, input) in [
        ("tiktok.video_list", json!({})),
        (
            "tiktok.research_hashtag_query",
            json!({"hashtags": ["cats"], "start_date": "20260101", "end_date": "20260110"}),
        ),
    ] {
        let (code, message, _) = tt.err(tool, input).await;
        assert_eq!(code, "insufficient_scope", "{tool}: {message}");
    }
    assert!(tt.fake.requests().is_empty(), "no provider call");

    // TikTok's own refusal of a scope maps to the same code.
    tt.fake.grant(TOKEN, &["video.list"]);
    let (code, message, _) = tt.err("tiktok.user_info", json!({})).await;
    assert_eq!(code, "insufficient_scope", "{message}");
    assert!(message.contains("scope_not_authorized"), "{message}");
    // A token TikTok does not know: provider_auth.
    tt.fake.revoke(TOKEN);
    let (code, message, _) = tt.err("tiktok.user_info", json!({})).await;
    assert_eq!(code, "provider_auth", "{message}");
    assert!(message.contains("access_token_invalid"), "{message}");
    // One 429 is waited out and retried; a limit that persists is rate_limited, retryable.
    tt.fake.grant(TOKEN, ALL);
    tt.fake.rate_limit(1);
    tt.ok("tiktok.user_info", json!({})).await;
    tt.fake.rate_limit(100);
    let (code, _, retryable) = tt.err("tiktok.user_info", json!({})).await;
    assert_eq!(code, "rate_limited");
    assert!(retryable);
}
