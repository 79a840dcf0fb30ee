//! Webhook Lambda: `POST /webhooks/<provider>/{instance_id}`; `SWITCHYARD_PROVIDER` names the
//! provider, so Slack and Discord share this binary.

use lambda_http::{service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    switchyard::telemetry::init();
    let provider = std::env::var("SWITCHYARD_PROVIDER")?;
    let app = switchyard::App::from_env(switchyard::config::needs::WEBHOOK).await?;
    let (app, provider) = (&app, provider.as_str());
    lambda_http::run(service_fn(move |req| {
        switchyard::lambda::webhook(app, provider, req)
    }))
    .await
}
