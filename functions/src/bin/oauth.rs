//! OAuth Lambda: `GET /oauth/{provider}/start` and `GET /oauth/{provider}/callback` (two
//! functions in the template share this binary; the path says which step).

use lambda_http::{service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    switchyard::telemetry::init();
    let app = switchyard::App::from_env(switchyard::config::needs::OAUTH).await?;
    let app = &app;
    lambda_http::run(service_fn(move |req| switchyard::lambda::oauth(app, req))).await
}
