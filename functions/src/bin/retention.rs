//! Scheduled Lambda: deletes artifacts, raw webhook payloads and receipts past their workspace's
//! retention window (`switchyard_tools::retention`).

use lambda_runtime::{service_fn, Error};

// One invocation at a time: a single-threaded runtime is enough for a sequential sweep.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    switchyard_core::telemetry::init();
    let sweeper = switchyard_tools::retention::Sweeper::from_env()?;
    let sweeper = &sweeper;
    lambda_runtime::run(service_fn(move |event| {
        switchyard_functions::lambda::sweep_retention(sweeper, event)
    }))
    .await
}
