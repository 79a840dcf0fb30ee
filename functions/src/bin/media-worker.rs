//! SQS-triggered Lambda: runs the deferred tool calls JobsQueue names (background media jobs,
//! approved calls) through the tool pipeline and tells the agent on the bus.

use lambda_runtime::{service_fn, Error};

// One invocation at a time: a single-threaded runtime (see consumer.rs).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    switchyard_core::telemetry::init();
    let tools = switchyard_tools::Tools::from_env().await?;
    // Load and compile the definitions during init, not on the first job.
    tools.catalog()?;
    let tools = &tools;
    lambda_runtime::run(service_fn(move |event| {
        switchyard_functions::lambda::run_deferred(tools, event)
    }))
    .await
}
