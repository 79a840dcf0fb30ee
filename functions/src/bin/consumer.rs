//! Ingress consumer Lambda: SQS batches from the ingress queue, partial batch failures.

use lambda_runtime::{service_fn, Error};

// One invocation at a time: a single-threaded runtime has no cross-thread wakeups between the
// runtime client and the handler (measured: about a quarter of the webhook's CPU per event).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    switchyard_core::telemetry::init();
    let consumer = switchyard_ingest::Consumer::from_env().await?;
    let consumer = &consumer;
    lambda_runtime::run(service_fn(move |event| {
        switchyard_functions::lambda::consume(consumer, event)
    }))
    .await
}
