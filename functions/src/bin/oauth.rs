//! OAuth Lambda: `GET /oauth/{provider}/start` and `GET /oauth/{provider}/callback` (two
//! functions in the template share this binary; the path says which step).

use lambda_http::{service_fn, Error};

// One invocation at a time: a single-threaded runtime has no cross-thread wakeups between the
// runtime client and the handler (measured: about a quarter of the webhook's CPU per event).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    switchyard_core::telemetry::init();
    let oauth = switchyard_oauth::OAuth::from_env().await?;
    let oauth = &oauth;
    lambda_http::run(service_fn(move |req| {
        switchyard_functions::lambda::oauth(oauth, req)
    }))
    .await
}
