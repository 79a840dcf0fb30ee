//! The live-events WebSocket's Lambdas: `ws-connect` (`$connect`/`$disconnect`) and
//! `ws-fanout` (agent-bus events to open connections through API Gateway's management API).
//! The logic is `switchyard_tools::live`; this is the Lambda side of it.

use std::future::Future;
use std::pin::Pin;

use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};
use switchyard_aws::agents::AgentStore;
use switchyard_aws::instances::InstanceStore;
use switchyard_aws::live::LiveConnectionStore;
use switchyard_aws::Startup;
use switchyard_core::clock::Clock;
use switchyard_core::config::needs;
use switchyard_tools::live::{self, BusEvent, ConnectRequest, ConnectionSink, PostError};

/// `ws-connect`'s context: the MCP endpoint's authenticator (OIDC access tokens as on `/mcp`,
/// agent tokens from the agents table) and the connections table.
#[derive(Debug)]
pub struct Connector {
    pub mcp: switchyard_mcp::Mcp,
    pub live: LiveConnectionStore,
    pub clock: Clock,
}

impl Connector {
    pub fn from_env() -> Result<Self, lambda_runtime::Error> {
        let start = Startup::from_env(needs::WS_CONNECT)?;
        let dynamodb = start.aws.dynamodb();
        let agents = AgentStore::new(dynamodb.clone(), &start.resources.agents_table);
        let tokens =
            switchyard_mcp::agent_tokens::AgentsTableTokens::new(agents, start.clock.clone());
        Ok(Self {
            mcp: switchyard_mcp::Mcp::from_env(Some(std::sync::Arc::new(tokens)))?,
            live: LiveConnectionStore::new(dynamodb, &start.resources.live_connections_table),
            clock: start.clock,
        })
    }
}

/// A header of a WebSocket proxy event, whatever its case.
fn header<'a>(event: &'a Value, name: &str) -> Option<&'a str> {
    event
        .get("headers")?
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

fn query<'a>(event: &'a Value, name: &str) -> Option<&'a str> {
    event.get("queryStringParameters")?.get(name)?.as_str()
}

/// `$connect` and `$disconnect` (API Gateway WebSocket proxy events; the route key says which).
/// A refused `$connect` answers its status (401 without a valid agent token or OIDC access
/// token) and API Gateway
/// refuses the upgrade with it.
pub async fn ws_connect(
    app: &Connector,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    let (event, event_context) = (event.payload, event.context);
    let context = &event["requestContext"];
    let connection_id = context["connectionId"].as_str().unwrap_or_default();
    match context["routeKey"].as_str().unwrap_or_default() {
        "$connect" => {
            let request = ConnectRequest {
                connection_id,
                authorization: header(&event, "authorization"),
                token: query(&event, "token"),
                events: query(&event, "events"),
            };
            let deadline =
                crate::lambda::deadline_of(&event_context, std::time::Duration::from_secs(1));
            let connected = switchyard_mcp::live::connect(
                &app.mcp,
                &app.live,
                request,
                app.clock.now(),
                deadline,
            )
            .await;
            match connected {
                Ok((principal, _)) => {
                    tracing::info!(connection_id, agent_id = %principal.agent_id, "live connection opened");
                    Ok(json!({"statusCode": 200}))
                }
                Err(e) => {
                    tracing::info!(connection_id, error = %e, "live connection refused");
                    Ok(json!({"statusCode": e.status(), "body": e.to_string()}))
                }
            }
        }
        "$disconnect" => {
            live::disconnect(&app.live, connection_id).await?;
            Ok(json!({"statusCode": 200}))
        }
        other => Ok(json!({"statusCode": 400, "body": format!("no route {other}")})),
    }
}

/// Posts to connections through API Gateway's management API (`PostToConnection`); a 410 Gone
/// is [`PostError::Gone`].
#[derive(Debug, Clone)]
pub struct ManagementSink {
    client: aws_sdk_apigatewaymanagement::Client,
}

impl ManagementSink {
    /// A client of the management API at `endpoint` (`https://<api>.execute-api.<region>.
    /// amazonaws.com/<stage>`), with the function's credentials and timeouts.
    pub fn new(aws: &switchyard_aws::AwsClients, endpoint: &str) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(aws.sdk_config())
            .endpoint_url(endpoint)
            .build();
        Self {
            client: aws_sdk_apigatewaymanagement::Client::from_conf(config),
        }
    }
}

impl ConnectionSink for ManagementSink {
    fn post<'a>(
        &'a self,
        connection_id: &'a str,
        message: &'a [u8],
    ) -> Pin<Box<dyn Future<Output = Result<(), PostError>> + Send + 'a>> {
        Box::pin(async move {
            match self
                .client
                .post_to_connection()
                .connection_id(connection_id)
                .data(aws_sdk_apigatewaymanagement::primitives::Blob::new(
                    message.to_vec(),
                ))
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_gone_exception()) => {
                    Err(PostError::Gone)
                }
                Err(e) => Err(PostError::Failed(switchyard_aws::error::chain(&e))),
            }
        })
    }
}

/// `ws-fanout`'s context.
#[derive(Debug, Clone)]
pub struct Fanout {
    pub instances: InstanceStore,
    pub live: LiveConnectionStore,
    pub sink: ManagementSink,
    pub clock: Clock,
}

/// The management API's endpoint: the WebSocket API's stage URL over https.
pub const WS_ENDPOINT_VAR: &str = "SWITCHYARD_WS_ENDPOINT";

impl Fanout {
    pub fn from_env() -> Result<Self, lambda_runtime::Error> {
        let start = Startup::from_env(needs::WS_FANOUT)?;
        let endpoint =
            std::env::var(WS_ENDPOINT_VAR).map_err(|_| format!("{WS_ENDPOINT_VAR} is not set"))?;
        let dynamodb = start.aws.dynamodb();
        Ok(Self {
            instances: InstanceStore::new(&start.aws, &start.resources.instances_table),
            live: LiveConnectionStore::new(dynamodb, &start.resources.live_connections_table),
            sink: ManagementSink::new(&start.aws, &endpoint),
            clock: start.clock,
        })
    }
}

/// One agent-bus event (the EventBridge rule's target), bounded by the invocation's deadline.
/// A failure is returned, so EventBridge's retry policy runs it again.
pub async fn ws_fanout(
    app: &Fanout,
    event: LambdaEvent<BusEvent>,
) -> Result<live::FanOutReport, lambda_runtime::Error> {
    let deadline = crate::lambda::deadline_of(&event.context, std::time::Duration::from_secs(1));
    let report = live::fan_out(
        &app.instances,
        &app.live,
        &app.sink,
        &event.payload,
        app.clock.now(),
        deadline,
    )
    .await?;
    tracing::info!(?report, event = %event.payload.detail_type, "live fan-out ran");
    Ok(report)
}
