//! Webhook Lambda: `POST /webhooks/<provider>/{instance_id}`; `SWITCHYARD_PROVIDER` names the
//! provider, so Slack and Discord share this binary.

use lambda_http::{service_fn, Error};

// One invocation at a time: a single-threaded runtime has no cross-thread wakeups between the
// runtime client and the handler (measured: about a quarter of the webhook's CPU per event).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    switchyard_core::telemetry::init();
    let provider = std::env::var("SWITCHYARD_PROVIDER")?;
    let ingress = switchyard_ingest::Ingress::from_env().await?;
    let (ingress, provider) = (&ingress, provider.as_str());
    lambda_http::run(service_fn(move |req| {
        switchyard_functions::lambda::webhook(ingress, provider, req)
    }))
    .await
}
