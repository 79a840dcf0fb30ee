//! SQS-triggered Lambda: syncs the Google watches that notifications (SyncQueue) name, queueing
//! each change as an agent event on the ingress queue.

use lambda_runtime::{service_fn, Error};

// One invocation at a time: a single-threaded runtime (see consumer.rs).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    switchyard_core::telemetry::init();
    let app = switchyard_google::GoogleSync::from_env().await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event| {
        switchyard_functions::lambda::google_sync(app, event)
    }))
    .await
}
