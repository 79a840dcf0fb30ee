//! OIDC access tokens on the live-events WebSocket's `$connect` (the local host's `GET /ws`),
//! with the MCP endpoint's authenticator: a client_credentials token from oidc-provider bound
//! to the gateway's MCP resource connects as the agent `SWITCHYARD_MCP_CLIENTS` maps its client
//! to; the same token at a gateway whose resource is another URL (the wrong audience) is
//! refused with 401 and records nothing.

use std::sync::Arc;

use switchyard::aws::AwsClients;
use switchyard::clock::Clock;
use switchyard::config::{Limits, Resources};
use switchyard::live::LiveConnectionStore;
use switchyard::mcp::Settings;
use switchyard::App;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::mcp::{Issuer, MCP_CLIENT_ID};
use crate::support::{endpoint, NOW};

const AGENT: &str = "agent-ws-oidc";
const WORKSPACE: &str = "acme";

/// Serves the local host for an app over `resources` whose MCP resource is `resource`.
async fn serve(
    resources: &Resources,
    listener: tokio::net::TcpListener,
    resource: &str,
    issuer: &Issuer,
) -> Arc<App> {
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let settings = Settings::from_values(
        Some(resource),
        Some(&issuer.url),
        Some(&format!("{}/jwks", issuer.url)),
        Some(&format!("{MCP_CLIENT_ID}={AGENT}@{WORKSPACE}")),
        None,
    )
    .expect("MCP settings");
    let aws = AwsClients::with_endpoint(&endpoint()).await;
    let app = Arc::new(
        App::new(aws, resources.clone(), Limits::default(), Clock::fixed(NOW))
            .expect("app")
            .with_public_url(&base)
            .with_mcp(settings, None),
    );
    let router = switchyard_ops::local::router(app.clone());
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    app
}

async fn connect(base: &str, token: &str) -> Result<(), u16> {
    let url = format!("{}/ws", base.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    match tokio_tungstenite::connect_async(request).await {
        Ok((mut socket, _)) => {
            socket.close(None).await.ok();
            Ok(())
        }
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("unexpected WebSocket error: {e}"),
    }
}

#[tokio::test]
async fn an_oidc_token_for_the_resource_connects_as_its_agent_and_another_audience_is_refused() {
    let gateway = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", gateway.local_addr().expect("addr"));
    let other_base = format!("http://{}", elsewhere.local_addr().expect("addr"));
    let resource = format!("{base}/mcp");
    let issuer = Issuer::start(&resource).await;

    let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let aws = AwsClients::with_endpoint(&endpoint()).await;
    let resources = switchyard_ops::stack::provision(&aws, &prefix)
        .await
        .expect("provision");
    let app = serve(&resources, gateway, &resource, &issuer).await;
    // The same stack behind a gateway that is another resource: tokens for `resource` name
    // the wrong audience there.
    serve(&resources, elsewhere, &format!("{other_base}/mcp"), &issuer).await;

    let token = issuer.token(Some(&resource)).await;
    assert_eq!(
        connect(&other_base, &token).await,
        Err(401),
        "wrong audience"
    );
    let live = LiveConnectionStore::new(app.aws.dynamodb(), &resources.live_connections_table);
    let none = live.for_agent(AGENT, NOW).await.expect("connections");
    assert!(none.is_empty(), "a refused connection was recorded");

    assert_eq!(connect(&base, "not-a-token").await, Err(401));

    // Recorded as the mapped agent while open; `for_agent` is what the fan-out reads.
    let url = format!("{}/ws", base.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("an OIDC token for the resource is accepted");
    let open = live.for_agent(AGENT, NOW).await.expect("connections");
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].workspace, WORKSPACE);
    socket.close(None).await.ok();
    drop(issuer);
}
