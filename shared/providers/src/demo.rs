//! The demo instances `make dev` seeds, with their documented test credentials (the samples in
//! `samples/` carry the other providers').

/// Slack's documented example signing secret (docs.slack.dev, "Verifying requests").
pub const SLACK_SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
/// RFC 8032 section 7.1 TEST 1 secret key, used as the demo Discord application key.
pub const DISCORD_SEED_HEX: &str =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
/// Its public key (what the Discord Developer Portal would show).
pub const DISCORD_PUBLIC_KEY: &str =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
pub const SLACK_INSTANCE: &str = "demo-slack";
pub const DISCORD_INSTANCE: &str = "demo-discord";
pub const WORKSPACE: &str = "demo";
pub const AGENT: &str = "demo-agent";
/// The IAM principal the demo agent is mapped to (the sample events' `authorizer.iam.userArn`).
pub const AGENT_IAM_ARN: &str = "arn:aws:iam::123456789012:role/agent-runtime";
/// The demo agent's token, documented so the sample events can carry it: the local stack only.
/// Real tokens come from `switchyard agent token create`, random and printed once.
pub const AGENT_TOKEN: &str = "sya_demo000000000000000000000000000000000000000";
