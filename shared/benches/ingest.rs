//! The in-process ingest path, no I/O: verify the signature over the raw bytes, interpret the
//! body, derive the delivery key, build and serialize the WorkItem. Each provider is measured
//! beside a baseline that only parses the same body as JSON, so the figures can be read as
//! ratios on a noisy machine.

use std::collections::BTreeMap;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use http::HeaderMap;
use switchyard::ingest::{accept, Accepted, ResolvedInstance};
use switchyard::instances::Instance;
use switchyard::providers::demo;
use switchyard::providers::Registry;
use switchyard::secret::SecretString;
use switchyard::verify::{sign, Verifier};

const NOW: u64 = 1_767_225_600;

fn instance(id: &str, provider: &str) -> Instance {
    Instance {
        id: id.into(),
        provider: provider.into(),
        workspace: "bench".into(),
        config: BTreeMap::new(),
        secret_keys: Vec::new(),
        sealed: None,
        grants: BTreeMap::new(),
        created_at: 0,
        updated_at: 0,
    }
}

fn slack_body() -> String {
    serde_json::json!({
        "type": "event_callback", "team_id": "T0DEMO", "api_app_id": "A0DEMO",
        "event_id": "Ev0BENCH", "event_time": NOW,
        "event": {"type": "app_mention", "channel": "C0GENERAL", "user": "U0USER",
                  "text": "<@U0BOT> please summarize the thread above and list the open questions",
                  "ts": "1767225600.000100", "event_ts": "1767225600.000100"},
        "authorizations": [{"team_id": "T0DEMO", "user_id": "U0BOT", "is_bot": true}],
        "is_ext_shared_channel": false
    })
    .to_string()
}

fn discord_body() -> String {
    serde_json::json!({
        "type": 2, "id": "200000000000000002", "application_id": "100000000000000001",
        "token": "aW50ZXJhY3Rpb246MjAwMDAwMDAwMDAwMDAwMDAyOmRlbW8tdG9rZW4tbm90LXZhbGlk",
        "guild_id": "300000000000000001", "channel_id": "400000000000000001",
        "member": {"user": {"id": "500000000000000001", "username": "demo"}},
        "data": {"id": "600000000000000001", "name": "ask", "type": 1,
                 "options": [{"name": "question", "type": 3, "value": "status of the deploy?"}]},
        "version": 1, "locale": "en-US"
    })
    .to_string()
}

fn bench_ingest(c: &mut Criterion) {
    let registry = Registry::load().expect("registry");
    let ts = NOW.to_string();

    let slack = registry.get("slack").expect("slack");
    let secret = SecretString::from(demo::SLACK_SIGNING_SECRET);
    let slack_instance = ResolvedInstance::new(
        instance("demo-slack", "slack"),
        Verifier::new(&slack.webhook.as_ref().expect("webhook").signature, |_| {
            Some(&secret)
        })
        .expect("verifier"),
    );
    let slack_plugin = registry.plugin("slack").expect("plugin");
    let body = slack_body();
    let mut headers = HeaderMap::new();
    headers.insert("content-type", "application/json".parse().expect("h"));
    headers.insert("x-slack-request-timestamp", ts.parse().expect("h"));
    headers.insert(
        "x-slack-signature",
        sign::slack(demo::SLACK_SIGNING_SECRET, &ts, body.as_bytes())
            .parse()
            .expect("h"),
    );
    let mut group = c.benchmark_group("slack");
    group.bench_function("accept_and_serialize", |b| {
        b.iter(|| {
            match accept(
                slack,
                slack_plugin,
                &slack_instance,
                &headers,
                black_box(body.as_bytes()),
                NOW,
            ) {
                Ok(Accepted::Queue { items, .. }) => black_box(items[0].to_json()),
                other => panic!("not queued: {other:?}"),
            }
        })
    });
    group.bench_function("baseline_json_parse", |b| {
        b.iter(|| {
            black_box(serde_json::from_slice::<serde_json::Value>(black_box(
                body.as_bytes(),
            )))
        })
    });
    group.finish();

    let discord = registry.get("discord").expect("discord");
    let key = SecretString::from(demo::DISCORD_PUBLIC_KEY);
    let discord_instance = ResolvedInstance::new(
        instance("demo-discord", "discord"),
        Verifier::new(
            &discord.webhook.as_ref().expect("webhook").signature,
            |_| Some(&key),
        )
        .expect("verifier"),
    );
    let discord_plugin = registry.plugin("discord").expect("plugin");
    let body = discord_body();
    let seed: [u8; 32] = hex::decode(demo::DISCORD_SEED_HEX)
        .expect("hex")
        .try_into()
        .expect("32");
    let mut headers = HeaderMap::new();
    headers.insert("content-type", "application/json".parse().expect("h"));
    headers.insert("x-signature-timestamp", ts.parse().expect("h"));
    headers.insert(
        "x-signature-ed25519",
        sign::discord(&seed, &ts, body.as_bytes())
            .parse()
            .expect("h"),
    );
    let mut group = c.benchmark_group("discord");
    group.bench_function("accept_and_serialize", |b| {
        b.iter(|| {
            match accept(
                discord,
                discord_plugin,
                &discord_instance,
                &headers,
                black_box(body.as_bytes()),
                NOW,
            ) {
                Ok(Accepted::Queue { items, .. }) => black_box(items[0].to_json()),
                other => panic!("not queued: {other:?}"),
            }
        })
    });
    group.bench_function("baseline_json_parse", |b| {
        b.iter(|| {
            black_box(serde_json::from_slice::<serde_json::Value>(black_box(
                body.as_bytes(),
            )))
        })
    });
    group.finish();
}

criterion_group!(benches, bench_ingest);
criterion_main!(benches);
