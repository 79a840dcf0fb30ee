//! Per-user connections end to end: start links issued `--for` a person make connections owned
//! by that person (against oidc-provider, as the OAuth tests run it); a tool call on behalf of a
//! user runs on that user's token only (checked at the Google fake), `connection_required` with
//! a connect link when the user has none, never someone else's token or the shared one; shared
//! instances keep working for agents acting as themselves; receipts record the user.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use switchyard::connections::{owner_connection_id, Connection, Status};
use switchyard::identity::{AuthMethod, Principal};
use switchyard::oauth::vault;
use switchyard::secret::SecretString;
use switchyard::tools::{ToolRequest, ToolResponse};
use switchyard_google_fake::GoogleFake;

use crate::support::{agent_token, serving_stack, Stack};

const ASSISTANT: &str = "assistant";
const PLAIN: &str = "plain-agent";
const ADA: &str = "ada@example.com";
const BOB: &str = "bob@example.com";
const CAROL: &str = "carol@example.com";
const SCOPE: &str = "https://www.googleapis.com/auth/calendar.events";

async fn cli(stack: &Stack, args: &[&str]) -> String {
    use clap::Parser;
    let mut argv = vec!["switchyard"];
    argv.extend_from_slice(args);
    let parsed = switchyard_ops::cli::Cli::try_parse_from(argv).expect("args");
    let mut out = Vec::new();
    switchyard_ops::cli::run_with_app(&stack.app, parsed, &mut out)
        .await
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    String::from_utf8(out).expect("utf8")
}

#[tokio::test]
async fn links_for_two_users_make_two_owned_connections_with_their_own_tokens() {
    let f = crate::oauth::Fixture::new().await;
    let instance = "acme-idp";
    let mut ids = Vec::new();
    for user in [ADA, BOB] {
        let url = cli(
            &f.stack,
            &["connection", "link", "--instance", instance, "--for", user],
        )
        .await;
        let consent = f.consent(url.trim()).await;
        let (status, page) = f.finish(&consent).await;
        assert_eq!(status, 200, "{page}");
        ids.push(owner_connection_id(instance, user));
    }
    let app = &f.stack.app;
    let connections = app.connections.list().await.expect("list");
    assert_eq!(connections.len(), 2, "{connections:?}");
    for (user, id) in [ADA, BOB].iter().zip(&ids) {
        let found = app
            .connections
            .for_owner(instance, user)
            .await
            .expect("lookup")
            .expect("the user's connection");
        assert_eq!(&found.id, id);
        assert_eq!(found.owner.as_deref(), Some(*user));
    }
    let token = |tokens: BTreeMap<String, SecretString>| tokens["access_token"].expose().to_owned();
    let ada_token = token(f.stored_tokens(&ids[0]).await);
    let bob_token = token(f.stored_tokens(&ids[1]).await);
    assert_ne!(ada_token, bob_token, "two consents, two tokens");
    // Each user's vault lookup gives that user's token.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let got = vault::access_token_for(app.vault(), &ids[1], instance, "generic-oauth2", deadline)
        .await
        .expect("bob's token");
    assert_eq!(got.token.expose(), bob_token);
    let listed = cli(&f.stack, &["connection", "list"]).await;
    assert!(
        listed.contains(&format!("owner={ADA}")) && listed.contains(&format!("owner={BOB}")),
        "{listed}"
    );
    assert!(!listed.contains(&ada_token) && !listed.contains(&bob_token));

    // Ada reconnecting replaces her own connection and leaves Bob's alone.
    let url = cli(
        &f.stack,
        &["connection", "link", "--instance", instance, "--for", ADA],
    )
    .await;
    let consent = f.consent(url.trim()).await;
    assert_eq!(f.finish(&consent).await.0, 200);
    assert_eq!(app.connections.list().await.expect("list").len(), 2);
    assert_ne!(token(f.stored_tokens(&ids[0]).await), ada_token);
    assert_eq!(token(f.stored_tokens(&ids[1]).await), bob_token);
}

/// A Google calendar stack: per-user, both and shared instances on the fake, the shared
/// connection, Ada's and Bob's own connections, and two agents.
struct Calendar {
    stack: Stack,
    base: String,
    fake: GoogleFake,
    assistant: String,
    plain: String,
}

impl Calendar {
    async fn new() -> Self {
        let (stack, base) = serving_stack().await;
        let fake = GoogleFake::start().await;
        let app = &stack.app;
        for (instance, mode) in [
            ("cal-per-user", "per_user"),
            ("cal-both", "both"),
            ("cal-shared", "shared"),
        ] {
            let mut settings: Vec<(String, String)> = [
                ("client_id", "cid.apps.googleusercontent.com"),
                ("client_secret", "client-secret"),
                ("api_base_url", fake.base_url.as_str()),
                ("connection_mode", mode),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
            if mode != "per_user" {
                let shared = format!("conn-shared-{instance}");
                connection(&stack, &fake, instance, &shared, None, "ya29.shared").await;
                settings.push(("connection_id".into(), shared));
            }
            switchyard_ops::admin::create_instance(app, "google", instance, "acme", &settings)
                .await
                .expect("instance");
            for agent in [ASSISTANT, PLAIN] {
                switchyard_ops::admin::grant(app, instance, agent, &Default::default())
                    .await
                    .expect("grant");
            }
            for (user, token) in [(ADA, "ya29.ada"), (BOB, "ya29.bob")] {
                if mode != "shared" {
                    let id = owner_connection_id(instance, user);
                    connection(&stack, &fake, instance, &id, Some(user), token).await;
                }
            }
        }
        let plain = agent_token(app, PLAIN, "acme").await;
        app.tools()
            .agents
            .create_agent(&switchyard::agents::Agent {
                id: ASSISTANT.into(),
                workspace: "acme".into(),
                iam_arns: Vec::new(),
                may_act_for_users: true,
                status: switchyard::agents::AgentStatus::Active,
                created_at: app.clock.now(),
            })
            .await
            .expect("assistant");
        let assistant = agent_token(app, ASSISTANT, "acme").await;
        Self {
            stack,
            base,
            fake,
            assistant,
            plain,
        }
    }

    /// `calendar.list_events` on `instance` through the local host, as `token`'s agent, for
    /// `user`.
    async fn call(
        &self,
        token: &str,
        instance: &str,
        user: Option<&str>,
        key: Option<&str>,
    ) -> (u16, Value) {
        let mut body = json!({"instance_id": instance, "input": {"calendar_id": "primary"}});
        if let Some(user) = user {
            body["on_behalf_of"] = json!(user);
        }
        if let Some(key) = key {
            body["idempotency_key"] = json!(key);
        }
        let response = reqwest::Client::new()
            .post(format!("{}/tools/calendar/list_events", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("post");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }

    /// The bearer token of the fake's last request, and how many it has seen.
    fn last_token(&self) -> (Option<String>, usize) {
        let requests = self.fake.requests();
        (
            requests
                .last()
                .and_then(|r| r.header("authorization"))
                .map(str::to_owned),
            requests.len(),
        )
    }

    /// Calls as `token`'s agent for `user` and returns the token the provider saw.
    async fn token_used(&self, token: &str, instance: &str, user: Option<&str>) -> String {
        let (status, body) = self.call(token, instance, user, None).await;
        assert_eq!(status, 200, "{instance} for {user:?}: {body}");
        self.last_token().0.expect("a provider request")
    }
}

/// A connection as the OAuth callback stores it, its token granted at the fake.
async fn connection(
    stack: &Stack,
    fake: &GoogleFake,
    instance: &str,
    id: &str,
    owner: Option<&str>,
    token: &str,
) {
    let app = &stack.app;
    fake.grant(token, &[SCOPE]);
    let sealed = app
        .keyring
        .seal_for(
            "google",
            vault::CONTEXT,
            id,
            &BTreeMap::from([("access_token".to_owned(), SecretString::from(token))]),
        )
        .await
        .expect("seal");
    let now = app.clock.now();
    let record = Connection {
        id: id.into(),
        instance_id: instance.into(),
        provider: "google".into(),
        workspace: "acme".into(),
        auth_type: "oauth2".into(),
        account_id: Some(format!("acct-{id}")),
        account_name: None,
        account_email: owner.map(str::to_owned),
        owner: owner.map(str::to_owned),
        scopes: vec![SCOPE.into()],
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
        .upsert(&record, now)
        .await
        .expect("connection");
}

#[tokio::test]
async fn each_users_call_runs_on_that_users_token_and_never_on_anothers() {
    let c = Calendar::new().await;
    let bearer = |t: &str| format!("Bearer {t}");
    assert_eq!(
        c.token_used(&c.assistant, "cal-per-user", Some(ADA)).await,
        bearer("ya29.ada")
    );
    assert_eq!(
        c.token_used(&c.assistant, "cal-per-user", Some(BOB)).await,
        bearer("ya29.bob")
    );

    // Carol has no connection: connection_required with a link for her, nothing sent.
    let (_, before) = c.last_token();
    let (status, body) = c
        .call(&c.assistant, "cal-per-user", Some(CAROL), None)
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "connection_required", "{body}");
    let link = body["error"]["connect_url"]
        .as_str()
        .expect("a connect link");
    assert!(
        link.starts_with(&format!("{}/oauth/google/start?", c.base)),
        "{link}"
    );
    let query: BTreeMap<String, String> = reqwest::Url::parse(link)
        .expect("url")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(query.get("for").map(String::as_str), Some(CAROL));
    assert_eq!(
        query.get("instance_id").map(String::as_str),
        Some("cal-per-user")
    );
    // The link is a valid signed start link (the start route verifies exactly this).
    let key = c.stack.app.oauth().link_key.get().await.expect("link key");
    let verified = switchyard::oauth::links::StartLink::verify(
        "google",
        &query
            .clone()
            .into_iter()
            .collect::<std::collections::HashMap<_, _>>(),
        &key,
        c.stack.app.clock.now(),
    )
    .expect("a signed link");
    assert_eq!(verified.principal.as_deref(), Some(CAROL));
    // A per-user instance called for nobody has no credential either.
    let (status, body) = c.call(&c.assistant, "cal-per-user", None, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("connection_required"))
    );
    assert_eq!(
        c.last_token().1,
        before,
        "no provider call without the user's own token"
    );

    // `both`: the user's own token for a user, the shared one for the agent itself, and a user
    // without a connection never gets the shared token.
    assert_eq!(
        c.token_used(&c.assistant, "cal-both", Some(ADA)).await,
        bearer("ya29.ada")
    );
    assert_eq!(
        c.token_used(&c.assistant, "cal-both", None).await,
        bearer("ya29.shared")
    );
    let (_, before) = c.last_token();
    let (status, body) = c.call(&c.assistant, "cal-both", Some(CAROL), None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("connection_required"))
    );
    assert_eq!(c.last_token().1, before);

    // Shared instances keep working for an agent acting as itself.
    assert_eq!(
        c.token_used(&c.plain, "cal-shared", None).await,
        bearer("ya29.shared")
    );

    // Only an agent allowed to act for users may name one.
    let (status, body) = c.call(&c.plain, "cal-per-user", Some(ADA), None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );

    // A user-bound credential (an OIDC subject) calls for its user only.
    let ada = Principal {
        agent_id: PLAIN.into(),
        workspace: "acme".into(),
        user: Some(ADA.into()),
        method: AuthMethod::Oidc,
    };
    let deadline = || tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let request = |user: Option<&str>| ToolRequest {
        instance_id: "cal-per-user".into(),
        input: json!({"calendar_id": "primary"}),
        on_behalf_of: user.map(str::to_owned),
        ..Default::default()
    };
    let tools = c.stack.app.tools();
    let answer = switchyard::tools::invoke_as(
        tools,
        &ada,
        "calendar.list_events",
        request(Some(BOB)),
        deadline(),
    )
    .await;
    assert_eq!(answer.error().map(|e| e.code.as_str()), Some("forbidden"));
    let answer = switchyard::tools::invoke_as(
        tools,
        &ada,
        "calendar.list_events",
        request(None),
        deadline(),
    )
    .await;
    assert!(matches!(answer, ToolResponse::Ok { .. }), "{answer:?}");
    assert_eq!(c.last_token().0, Some(bearer("ya29.ada")));

    // An idempotency key is per user: Bob's call with Ada's key runs on Bob's token.
    let (_, ada_keyed) = c
        .call(&c.assistant, "cal-per-user", Some(ADA), Some("k-1"))
        .await;
    let (_, bob_keyed) = c
        .call(&c.assistant, "cal-per-user", Some(BOB), Some("k-1"))
        .await;
    assert_ne!(ada_keyed["receipt_id"], bob_keyed["receipt_id"]);
    assert_eq!(c.last_token().0, Some(bearer("ya29.bob")));

    // Receipts record the user beside the agent, and filter by user.
    let receipts = c
        .stack
        .app
        .tools()
        .receipts
        .list(
            &switchyard::tools::receipts::ReceiptFilter {
                user: Some(BOB.into()),
                ..Default::default()
            },
            50,
        )
        .await
        .expect("receipts");
    assert_eq!(receipts.len(), 2, "{receipts:?}");
    assert!(receipts
        .iter()
        .all(|r| r.user.as_deref() == Some(BOB) && r.agent_id == ASSISTANT));
    let printed = cli(&c.stack, &["receipts", "list", "--user", ADA]).await;
    assert!(printed.contains(&format!("user={ADA}")), "{printed}");
    assert!(!printed.contains(BOB), "{printed}");
}
