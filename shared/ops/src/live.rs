//! The local host's live-events WebSocket (`GET /ws`) and its fan-out driver.
//!
//! The same code as the Lambdas: `$connect`/`$disconnect` are
//! [`switchyard::tools::live::connect`]/[`disconnect`](switchyard::tools::live::disconnect) on the
//! same table, and the fan-out is [`switchyard::tools::live::fan_out`], fed from the stand-in
//! queue the local stack puts where the deployment's rule targets the fan-out function. Only the
//! [`ConnectionSink`] differs: an in-process channel per open socket instead of API Gateway's
//! management API.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use switchyard::live::LiveConnectionStore;
use switchyard::tools::live::{self, BusEvent, ConnectRequest, ConnectionSink, PostError};
use switchyard::App;
use tokio::sync::mpsc;

use crate::local::{poll_once, DriverError, DriverSettings};

/// The open sockets of this process, by connection id. Connection ids are random, so stacks
/// sharing a process (tests) cannot collide.
#[derive(Debug, Default)]
pub struct LocalSockets {
    open: Mutex<HashMap<String, mpsc::UnboundedSender<Vec<u8>>>>,
}

/// This process's sockets.
pub static SOCKETS: LazyLock<LocalSockets> = LazyLock::new(LocalSockets::default);

impl LocalSockets {
    fn open(&self, connection_id: &str) -> mpsc::UnboundedReceiver<Vec<u8>> {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut open) = self.open.lock() {
            open.insert(connection_id.to_owned(), tx);
        }
        rx
    }

    fn close(&self, connection_id: &str) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(connection_id);
        }
    }
}

impl ConnectionSink for LocalSockets {
    /// A socket that is not open here (closed, or its host restarted) is gone, as API
    /// Gateway's 410 says.
    fn post<'a>(
        &'a self,
        connection_id: &'a str,
        message: &'a [u8],
    ) -> Pin<Box<dyn Future<Output = Result<(), PostError>> + Send + 'a>> {
        let sent = self
            .open
            .lock()
            .ok()
            .and_then(|open| open.get(connection_id).cloned())
            .map(|tx| tx.send(message.to_vec()).is_ok());
        Box::pin(async move {
            match sent {
                Some(true) => Ok(()),
                _ => Err(PostError::Gone),
            }
        })
    }
}

fn store(app: &App) -> LiveConnectionStore {
    LiveConnectionStore::new(app.aws.dynamodb(), &app.resources.live_connections_table)
}

/// `GET /ws`: authenticates the agent (`Authorization: Bearer` or `?token=`: an agent token or
/// an OIDC access token, as `/mcp` accepts), records the
/// connection, upgrades, and forwards fanned-out events until the client closes. Refused: 401
/// (or 403/503) and no record.
pub async fn socket(
    State(app): State<Arc<App>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let connection_id = uuid::Uuid::new_v4().simple().to_string();
    let request = ConnectRequest {
        connection_id: &connection_id,
        authorization: headers.get("authorization").and_then(|v| v.to_str().ok()),
        token: query.get("token").map(String::as_str),
        events: query.get("events").map(String::as_str),
    };
    let live = store(&app);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let connected =
        switchyard::mcp::live::connect(app.mcp(), &live, request, app.clock.now(), deadline).await;
    if let Err(e) = connected {
        let status = axum::http::StatusCode::from_u16(e.status())
            .unwrap_or(axum::http::StatusCode::UNAUTHORIZED);
        let mut response = (status, e.to_string()).into_response();
        if e.status() == 401 {
            response.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_static("Bearer realm=\"switchyard\""),
            );
        }
        return response;
    }
    let inbox = SOCKETS.open(&connection_id);
    upgrade.on_upgrade(move |socket| async move {
        forward(socket, inbox).await;
        SOCKETS.close(&connection_id);
        if let Err(e) = live::disconnect(&live, &connection_id).await {
            tracing::warn!(connection_id, error = %e, "could not forget a closed socket");
        }
    })
}

/// Sends what the fan-out posts; ends when the client closes or the socket fails.
async fn forward(mut socket: WebSocket, mut inbox: mpsc::UnboundedReceiver<Vec<u8>>) {
    loop {
        tokio::select! {
            message = inbox.recv() => {
                let Some(message) = message else { return };
                let text = String::from_utf8_lossy(&message).into_owned();
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Receives one batch of the fan-out's stand-in queue and fans each event out to this
/// process's sockets. A record whose fan-out failed (store unavailable, out of time) is
/// retried after the visibility timeout, as EventBridge retries a failed Lambda target.
pub async fn drive_once(
    app: &App,
    settings: DriverSettings,
) -> Result<(usize, usize), DriverError> {
    let Some(queue) = app.resources.live_events_queue_url.clone() else {
        return Ok((0, 0));
    };
    let live = store(app);
    poll_once(app, &queue, settings, |records| async move {
        let mut failed = Vec::new();
        for record in records {
            let event: BusEvent = match serde_json::from_str(&record.body) {
                Ok(event) => event,
                Err(e) => {
                    tracing::warn!(error = %e, "not an EventBridge event; dropped");
                    continue;
                }
            };
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            let now = app.clock.now();
            if let Err(e) =
                live::fan_out(&app.instances, &live, &*SOCKETS, &event, now, deadline).await
            {
                tracing::warn!(error = %e, "live fan-out failed; retried");
                failed.push(record.message_id);
            }
        }
        failed
    })
    .await
}

/// Drives the fan-out forever (the local stand-in for the `ws-fanout` function).
pub async fn drive(app: Arc<App>, settings: DriverSettings) {
    loop {
        if let Err(e) = drive_once(&app, settings).await {
            tracing::warn!(error = %e, "live events poll failed; retrying in 2 s");
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}
