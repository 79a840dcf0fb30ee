//! Scheduled Lambda: polls Notion data sources for edited pages where webhooks are not
//! available, emitting the same events through the ingress queue.

use lambda_runtime::{service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    switchyard_core::telemetry::init();
    let poller = switchyard_tools::NotionPoller::from_env().await?;
    let poller = &poller;
    lambda_runtime::run(service_fn(move |event| {
        switchyard_functions::lambda::poll_notion(poller, event)
    }))
    .await
}
