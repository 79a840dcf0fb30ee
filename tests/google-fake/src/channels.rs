//! Push channels (Drive `changes.watch`/`files.watch`, Calendar `events.watch`, `channels.stop`)
//! and Gmail's `users.watch` registration. The fake records them; it sends no notifications.

use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{json, Value};

use crate::calendar::CALENDAR_ANY;
use crate::error::ApiError;
use crate::server::{ok, Reply, Req, Route, State};

/// An opened push channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// The caller's channel id.
    pub id: String,
    /// Google's opaque id of the watched resource: the same for every channel on it.
    pub resource_id: String,
    pub resource_uri: String,
    /// The caller's `token` (sent back as `X-Goog-Channel-Token`).
    pub token: Option<String>,
    /// The notification URL.
    pub address: String,
    pub expiration_ms: i64,
    /// `drive` or `calendar`.
    pub product: &'static str,
    /// What is watched: `changes`, `files/<id>`, `calendars/<id>/events`.
    pub resource: String,
    pub stopped: bool,
}

/// Gmail's `users.watch` registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GmailWatch {
    pub topic_name: String,
    pub label_ids: Vec<String>,
    /// `include` or `exclude`.
    pub label_filter_behavior: String,
    /// The mailbox history id when the watch was (re)created.
    pub history_id: u64,
    pub expiration_ms: i64,
    /// How many times `users.watch` was called (renewals included).
    pub calls: u32,
    pub stopped: bool,
}

/// How long a channel may live: the default when the request has no `expiration`, and the cap.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lifetime {
    pub default_secs: i64,
    pub max_secs: i64,
}

/// Opens a channel on `resource` from a watch request body
/// `{"id","type":"web_hook","address","token","expiration"}` and answers the `api#channel`.
pub(crate) fn open(
    state: &mut State,
    req: &Req,
    product: &'static str,
    resource: String,
    resource_uri: String,
    lifetime: Lifetime,
) -> Result<Reply, ApiError> {
    let body = req.json()?;
    let id = body["id"].as_str().unwrap_or("");
    if id.is_empty() {
        return Err(ApiError::required("Required: channel id"));
    }
    if !matches!(body["type"].as_str(), Some("web_hook" | "webhook")) {
        return Err(ApiError::bad_request(format!(
            "Invalid value for channel type: {}",
            body["type"]
        )));
    }
    let address = body["address"].as_str().unwrap_or("");
    if !address.starts_with("https://") && !is_loopback(address) {
        return Err(ApiError::new(
            400,
            "push.webhookUrlNotHttps",
            format!("WebHook callback must be HTTPS: {address}"),
        ));
    }
    if state.channels.iter().any(|c| c.id == id && !c.stopped) {
        return Err(ApiError::new(
            400,
            "push.channelIdNotUnique",
            format!("Channel id {id} not unique"),
        ));
    }
    let now = state.now().timestamp_millis();
    let requested = match &body["expiration"] {
        Value::String(s) => s.parse::<i64>().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    };
    let expiration = requested
        .unwrap_or(now + lifetime.default_secs * 1000)
        .min(now + lifetime.max_secs * 1000);
    let token = body["token"].as_str().map(str::to_owned);
    let channel = Channel {
        id: id.to_owned(),
        resource_id: resource_id(&state.email, product, &resource),
        resource_uri,
        token: token.clone(),
        address: address.to_owned(),
        expiration_ms: expiration,
        product,
        resource,
        stopped: false,
    };
    let mut answer = json!({
        "kind": "api#channel",
        "id": channel.id,
        "resourceId": channel.resource_id,
        "resourceUri": channel.resource_uri,
        "expiration": expiration.to_string(),
    });
    if let Some(token) = token {
        answer["token"] = token.into();
    }
    state.channels.push(channel);
    ok(answer)
}

/// The fake has no certificate checks to make; loopback addresses are accepted so a local host
/// can run against it (Google itself requires HTTPS with a valid certificate).
fn is_loopback(address: &str) -> bool {
    ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| address.starts_with(p))
}

/// Google's opaque, stable resource id for what a channel watches.
fn resource_id(email: &str, product: &str, resource: &str) -> String {
    let mut hasher = DefaultHasher::new();
    (email, product, resource).hash(&mut hasher);
    let a = hasher.finish();
    resource.hash(&mut hasher);
    let b = hasher.finish();
    format!("{a:016x}{b:011x}")
        .chars()
        .take(27)
        .collect::<String>()
        .replace('0', "Z")
}

/// `channels.stop` of `product`: `{"id","resourceId"}`; 404 for an unknown (or stopped) channel.
fn stop(state: &mut State, req: &Req, product: &str) -> Result<Reply, ApiError> {
    let body = req.json()?;
    let id = body["id"].as_str().unwrap_or("");
    let resource_id = body["resourceId"].as_str().unwrap_or("");
    let channel = state
        .channels
        .iter_mut()
        .find(|c| c.product == product && c.id == id && c.resource_id == resource_id && !c.stopped);
    match channel {
        Some(channel) => {
            channel.stopped = true;
            Ok(Reply::empty())
        }
        None => Err(ApiError::not_found(format!(
            "Channel '{id}' not found for project 'switchyard-fake'"
        ))),
    }
}

fn stop_drive(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    stop(state, req, "drive")
}

fn stop_calendar(state: &mut State, req: &Req) -> Result<Reply, ApiError> {
    stop(state, req, "calendar")
}

/// `POST /drive/v3/channels/stop`.
pub(crate) const DRIVE_STOP_ROUTE: Route = Route {
    scopes: crate::drive::DRIVE_ANY,
    handler: stop_drive,
};

/// `POST /calendar/v3/channels/stop`.
pub(crate) const CALENDAR_STOP_ROUTE: Route = Route {
    scopes: CALENDAR_ANY,
    handler: stop_calendar,
};
