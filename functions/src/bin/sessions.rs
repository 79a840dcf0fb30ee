//! Sessions Lambda: agent sessions with checkpoints (`/sessions…`) and prompt templates
//! (`/templates…`), for the agent the gateway or its token authenticates.

use lambda_http::{service_fn, Error, Request, RequestExt};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    switchyard_core::telemetry::init();
    let tools = switchyard_tools::Tools::sessions_from_env().await?;
    // Load and compile the definitions and templates during init, not on the first call.
    tools.catalog()?;
    switchyard_tools::prompts::templates();
    let tools = &tools;
    lambda_http::run(service_fn(move |request: Request| async move {
        let context = request.lambda_context();
        switchyard_functions::lambda::sessions(tools, request, &context).await
    }))
    .await
}
