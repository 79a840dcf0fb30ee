//! Scheduled Lambda: renews Google watches before they lapse, syncs the ones not synced lately
//! (the safety sweep) and marks repeatedly failing ones.

use lambda_runtime::{service_fn, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    switchyard_core::telemetry::init();
    let app = switchyard_google::GoogleSync::from_env().await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event| {
        switchyard_functions::lambda::renew_watches(app, event)
    }))
    .await
}
