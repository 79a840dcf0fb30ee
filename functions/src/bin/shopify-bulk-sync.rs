//! Scheduled Lambda (nightly): exports each Shopify shop's catalog with a bulk operation,
//! streams the JSONL result and emits `shopify.catalog_synced` with its counts.

use lambda_runtime::{service_fn, Error};

// One invocation at a time: a single-threaded runtime, like the other scheduled workers.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    switchyard_core::telemetry::init();
    let app = switchyard_tools::NotionPoller::from_env().await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event| {
        switchyard_functions::lambda::shopify_bulk_sync(app, event)
    }))
    .await
}
