//! Scheduled Lambda: polls Notion data sources for edited pages where webhooks are not
//! available, emitting the same events through the ingress queue.

use lambda_runtime::{service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    switchyard::telemetry::init();
    let app = switchyard::App::from_env(switchyard::config::needs::NOTION_POLLER).await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event| {
        switchyard::lambda::poll_notion(app, event)
    }))
    .await
}
