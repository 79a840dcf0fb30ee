//! SES email events to the message log (`switchyard_functions::email_status`).

use lambda_runtime::{service_fn, Error};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    switchyard_core::telemetry::init();
    let app = switchyard_functions::email_status::EmailStatus::from_env()?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event| {
        switchyard_functions::email_status::email_status(app, event)
    }))
    .await
}
