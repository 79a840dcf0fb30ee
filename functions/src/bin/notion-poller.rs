//! Scheduled Lambda: polls Notion data sources for edited pages where webhooks are not
//! available, emitting the same events through the ingress queue.

use lambda_runtime::{service_fn, Error};

// One invocation at a time: a single-threaded runtime has no cross-thread wakeups between the
// runtime client and the handler (measured: about a quarter of the webhook's CPU per event).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    switchyard_core::telemetry::init();
    let poller = switchyard_tools::NotionPoller::from_env().await?;
    let poller = &poller;
    lambda_runtime::run(service_fn(move |event| {
        switchyard_functions::lambda::poll_notion(poller, event)
    }))
    .await
}
