//! Ingress consumer Lambda: SQS batches from the ingress queue, partial batch failures.

use lambda_runtime::{service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    switchyard::telemetry::init();
    let app = switchyard::App::from_env(switchyard::config::needs::CONSUMER).await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event| {
        switchyard::lambda::consume(app, event)
    }))
    .await
}
