//! Operator dashboard Lambda: `GET /dashboard` (the page, for an operator token or session) and
//! `/dashboard/login` (the form; a session cookie for a valid operator token). Reads only.

use lambda_http::{service_fn, Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    switchyard_core::telemetry::init();
    let start = switchyard_aws::Startup::from_env(switchyard_core::config::needs::DASHBOARD)?;
    let dash = switchyard_dashboard::Dashboard::new(&start.aws, &start.resources, start.clock);
    let dash = &dash;
    lambda_http::run(service_fn(move |request: Request| async move {
        switchyard_functions::lambda::dashboard(dash, request).await
    }))
    .await
}
