//! Switchyard: the integrations gateway between AI agents and the SaaS they work in.
//!
//! All behaviour lives here; the Lambda mains in `functions/` are a few lines each. Start at
//! [`ingest::handle`] (webhooks in), [`consumer::handle_batch`] (work items to agent events),
//! [`tools::invoke`] and [`oauth`]. The CLI, the local host and the template reader are in
//! `switchyard-ops`, which no Lambda links.

pub mod app;
pub mod audit;
pub mod aws;
pub mod config;
pub mod connections;
pub mod consumer;
pub mod crypto;
pub mod cursors;
pub mod deliveries;
pub mod dynamo;
pub mod error;
pub mod events;
#[cfg(test)]
mod fuzz_tests;
pub mod ingest;
pub mod instances;
pub mod keys;
pub mod lambda;
pub mod notion_poll;
pub mod oauth;
pub mod queue;
pub mod sink;
pub mod telemetry;
pub mod tools;

pub use app::App;
pub use switchyard_core::{clock, policy, reply, secret, workitem};
pub use switchyard_providers as providers;
pub use switchyard_providers::verify;
