//! MCP Lambda: `POST /mcp` (tools over the Model Context Protocol, stateless Streamable HTTP)
//! and the protected resource metadata, authenticating bearer tokens itself.

use lambda_http::{service_fn, Error, Request, RequestExt};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    switchyard_core::telemetry::init();
    let tools = switchyard_tools::Tools::from_env().await?;
    // Load and compile the definitions during init, not on the first call.
    tools.catalog()?;
    let agent_tokens = switchyard_mcp::agent_tokens::AgentsTableTokens::new(
        tools.agents.clone(),
        tools.clock.clone(),
    );
    let mcp = switchyard_mcp::Mcp::from_env(Some(std::sync::Arc::new(agent_tokens)))?;
    let (tools, mcp) = (&tools, &mcp);
    lambda_http::run(service_fn(move |request: Request| async move {
        let context = request.lambda_context();
        switchyard_functions::lambda::mcp(tools, mcp, request, &context).await
    }))
    .await
}
