//! Intents Lambda: scheduled task intents (`/intents…`) for the agent the gateway or its token
//! authenticates: create, list, show, cancel, retry.

use lambda_http::{service_fn, Error, Request, RequestExt};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    switchyard_core::telemetry::init();
    let tools = switchyard_tools::Tools::intents_from_env().await?;
    // Load and compile the definitions during init: every create checks the tool and input.
    tools.catalog()?;
    let tools = &tools;
    lambda_http::run(service_fn(move |request: Request| async move {
        let context = request.lambda_context();
        switchyard_functions::lambda::intents(tools, request, &context).await
    }))
    .await
}
