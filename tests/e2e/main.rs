//! End-to-end tests against the local stack: a real AWS emulator (moto's server) reached over
//! the AWS APIs at `AWS_ENDPOINT_URL`. `make test` starts a private emulator for them
//! (`infra/with-emulator.sh`). Each test provisions the template's resources under its own
//! random prefix, so tests run in parallel without seeing each other.

// Helpers are shared between test modules of this one binary.
#![allow(unreachable_pub)]

mod approvals;
mod artifacts;
mod bench_notification;
mod cli;
mod consumer;
mod dashboard;
mod dashboard_browser;
mod discord;
mod egress;
mod email;
mod fakes;
mod google_push;
mod google_sync;
mod google_tools;
mod identity;
mod intents;
mod jobs;
mod kb;
mod keys;
mod lambda_config;
mod linking;
mod live;
mod live_oidc;
mod llm;
mod mcp;
mod media;
mod notion_poll;
mod oauth;
mod per_user;
mod providers;
mod rejects;
mod retention;
mod samples;
mod secret_scan;
mod sessions;
mod shopify;
mod slack;
mod support;
mod template;
mod tiktok;
mod tools;
mod watches;
mod whatsapp;
mod wire;
