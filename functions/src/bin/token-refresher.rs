//! Scheduled Lambda: refreshes OAuth tokens that expire soon, so agents rarely wait.

use lambda_runtime::{service_fn, Error};

// One invocation at a time: a single-threaded runtime has no cross-thread wakeups between the
// runtime client and the handler (measured: about a quarter of the webhook's CPU per event).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    switchyard_core::telemetry::init();
    let vault = switchyard_oauth::Vault::from_env().await?;
    let vault = &vault;
    lambda_runtime::run(service_fn(move |event| {
        switchyard_functions::lambda::refresh_tokens(vault, event)
    }))
    .await
}
