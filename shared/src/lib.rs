//! Switchyard: the integrations gateway between AI agents and the SaaS they work in.
//!
//! This crate gathers the others for the CLI, the local host and the tests, and builds one
//! [`App`] holding every function's context. No Lambda links it: each function binary builds only
//! its own context (`switchyard_ingest::Ingress`, `switchyard_tools::Tools`, …). Start at
//! [`ingest::handle`] (webhooks in), [`consumer::handle_batch`] (work items to agent events),
//! [`tools::invoke`] and [`oauth`].

pub mod app;

pub use app::App;
pub use switchyard_aws::intents;
pub use switchyard_aws::{
    agents, approvals, artifacts, audit, clients as aws, connections, crypto, cursors, deferred,
    deliveries, dynamo, error, events, instances, jobs, live, messages, queue, ses_events,
    settings, sink, watches, wire,
};
pub use switchyard_core::{clock, config, identity, policy, reply, secret, telemetry, workitem};
pub use switchyard_dashboard as dashboard;
pub use switchyard_egress as egress;
pub use switchyard_google as google;
pub use switchyard_ingest as ingest;
pub use switchyard_ingest::consumer;
pub use switchyard_mcp as mcp;
pub use switchyard_oauth as oauth;
pub use switchyard_oauth::keys;
pub use switchyard_providers as providers;
pub use switchyard_providers::verify;
pub use switchyard_tools as tools;
pub use switchyard_tools::notion_poll;
pub use switchyard_tools::retention;
