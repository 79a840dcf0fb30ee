//! Scheduled Lambda: refreshes OAuth tokens that expire soon, so agents rarely wait.

use lambda_runtime::{service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    switchyard::telemetry::init();
    let app = switchyard::App::from_env(switchyard::config::needs::TOKEN_REFRESHER).await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event| {
        switchyard::lambda::refresh_tokens(app, event)
    }))
    .await
}
