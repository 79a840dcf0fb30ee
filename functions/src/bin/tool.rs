//! Tool Lambda: one function per method in the template, all sharing this binary;
//! `SWITCHYARD_TOOL` names the method (`slack.post_message`) or `discovery`.

use lambda_runtime::{service_fn, Error};

// One invocation at a time: a single-threaded runtime has no cross-thread wakeups between the
// runtime client and the handler (measured: about a quarter of the webhook's CPU per event).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    switchyard_core::telemetry::init();
    let tool = std::env::var("SWITCHYARD_TOOL")?;
    let tools = switchyard_tools::Tools::from_env().await?;
    // Load and compile the definitions during init, not on the first call.
    if tool != "discovery" && tools.catalog()?.method(&tool).is_none() {
        return Err(format!("SWITCHYARD_TOOL={tool} is not a defined tool").into());
    }
    let (tools, tool) = (&tools, tool.as_str());
    lambda_runtime::run(service_fn(move |event| {
        switchyard_functions::lambda::tool(tools, tool, event)
    }))
    .await
}
