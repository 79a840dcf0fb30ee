//! The operator dashboard: `GET /dashboard`, a server-rendered page of the gateway's state
//! (instances and connections, watches and their lag, DLQ depth, open breakers, pending
//! approvals, recent receipts with cost, recent errors), behind operator authentication.
//!
//! - [`operator`]: operator tokens and browser sessions (agent tokens never open it);
//! - [`gather`]: the sections, read concurrently, each bounded by the request's deadline;
//! - [`render`]: the HTML (no script, no external asset, every value escaped).
//!
//! The same [`handle`] serves the local host's route and the `dashboard` Lambda; it only reads
//! (the session cookie is signed, not stored).

pub mod gather;
pub mod operator;
pub mod render;

use std::time::Duration;

use switchyard_aws::agents::TOKEN_PREFIX as AGENT_TOKEN_PREFIX;
use switchyard_aws::approvals::ApprovalStore;
use switchyard_aws::connections::ConnectionStore;
use switchyard_aws::instances::InstanceStore;
use switchyard_aws::watches::WatchStore;
use switchyard_aws::AwsClients;
use switchyard_core::clock::Clock;
use switchyard_core::config::Resources;
use switchyard_core::reply::Reply;
use switchyard_oauth::links::LinkKey;
use tokio::time::Instant;

use operator::{OperatorError, OperatorStore, OperatorToken};

/// How long a page may take to gather; sections still out by then are shown as timed out.
pub const PAGE_DEADLINE: Duration = Duration::from_secs(3);

/// The dashboard's context, built once (per cold start in a Lambda).
#[derive(Debug)]
pub struct Dashboard {
    pub instances: InstanceStore,
    pub connections: ConnectionStore,
    pub watches: WatchStore,
    pub approvals: ApprovalStore,
    pub operators: OperatorStore,
    pub dynamodb: switchyard_aws::dynamodb::Client,
    pub receipts_table: String,
    pub tool_state_table: String,
    pub sqs: switchyard_aws::sqs::Client,
    /// The dead-letter queues shown, as (name, URL).
    pub dlqs: Vec<(String, String)>,
    /// Signs session cookies (the stack's link key, under a label of its own).
    pub session_key: LinkKey,
    pub clock: Clock,
}

impl Dashboard {
    /// On the stack's resources; the DLQ shown is the ingress DLQ (the one `dlq redrive` moves).
    pub fn new(aws: &AwsClients, resources: &Resources, clock: Clock) -> Self {
        let dynamodb = aws.dynamodb();
        Self {
            instances: InstanceStore::new(aws, &resources.instances_table),
            connections: ConnectionStore::new(dynamodb.clone(), &resources.connections_table),
            watches: WatchStore::new(aws, &resources.watches_table),
            approvals: ApprovalStore::new(dynamodb.clone(), &resources.approvals_table),
            operators: OperatorStore::new(dynamodb.clone(), &resources.agents_table),
            dynamodb,
            receipts_table: resources.receipts_table.clone(),
            tool_state_table: resources.tool_state_table.clone(),
            sqs: aws.sqs(),
            dlqs: vec![("ingress".to_owned(), resources.ingress_dlq_url.clone())],
            session_key: LinkKey::new(aws.secrets(), &resources.oauth_link_key_secret),
            clock,
        }
    }
}

/// A request to one of the dashboard's routes.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub authorization: Option<&'a str>,
    /// The `Cookie` header(s), joined with `; `.
    pub cookies: &'a str,
    pub body: &'a [u8],
    /// Whether the session cookie gets `Secure` (everywhere but plain HTTP on loopback).
    pub secure_cookies: bool,
}

/// Serves `GET /dashboard` and `POST /dashboard/login`.
pub async fn handle(dash: &Dashboard, request: Request<'_>) -> Reply {
    let reply = match (request.method, request.path.trim_end_matches('/')) {
        ("GET", "/dashboard") => page(dash, &request).await,
        ("POST", "/dashboard/login") => login(dash, &request).await,
        ("GET", "/dashboard/login") => Reply::html(200, render::login(None)),
        _ => Reply::text(405, "method not allowed"),
    };
    reply
}

/// Who is asking: an operator token in `Authorization: Bearer`, else the session cookie.
async fn operator_of(
    dash: &Dashboard,
    request: &Request<'_>,
) -> Result<OperatorToken, OperatorError> {
    let now = dash.clock.now();
    if let Some(token) = request.authorization.and_then(operator::bearer) {
        return dash.operators.authenticate(token, now).await;
    }
    let cookie = operator::session_from_cookies(request.cookies).ok_or(OperatorError::Missing)?;
    let key = dash
        .session_key
        .get()
        .await
        .map_err(|e| OperatorError::Unavailable(e.to_string()))?;
    dash.operators.session(&key, cookie, now).await
}

fn refused(e: &OperatorError) -> Reply {
    if e.status() == 503 {
        tracing::warn!(error = %e, "dashboard authentication unavailable");
        return Reply::html(
            503,
            render::login(Some("authentication is unavailable; retry later")),
        );
    }
    let problem = match e {
        OperatorError::Missing => None,
        _ => Some("not accepted: log in with an operator token"),
    };
    Reply::html(401, render::login(problem))
}

async fn page(dash: &Dashboard, request: &Request<'_>) -> Reply {
    let operator = match operator_of(dash, request).await {
        Ok(op) => op,
        Err(e) => return refused(&e),
    };
    let started = Instant::now();
    let snapshot = gather::gather(dash, started + PAGE_DEADLINE).await;
    let label = if operator.label.is_empty() {
        operator.token_id.clone()
    } else {
        operator.label.clone()
    };
    let html = render::dashboard(&snapshot, &label);
    tracing::info!(
        operator = %operator.token_id,
        gather_ms = started.elapsed().as_millis() as u64,
        "dashboard served"
    );
    Reply::html(200, html)
}

/// The form's `token` field (`application/x-www-form-urlencoded`).
fn form_token(body: &[u8]) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    body.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == "token").then(|| percent_decode(value))
    })
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `POST /dashboard/login`: an operator token in, a session cookie and a redirect to the page
/// out. An agent token is refused like any other non-operator token.
async fn login(dash: &Dashboard, request: &Request<'_>) -> Reply {
    let now = dash.clock.now();
    let Some(token) = form_token(request.body).filter(|t| !t.is_empty()) else {
        return Reply::html(401, render::login(Some("enter an operator token")));
    };
    if token.starts_with(AGENT_TOKEN_PREFIX) {
        return Reply::html(
            401,
            render::login(Some("agent tokens do not open the dashboard")),
        );
    }
    let operator = match dash.operators.authenticate(&token, now).await {
        Ok(op) => op,
        Err(e) => return refused(&e),
    };
    let key = match dash.session_key.get().await {
        Ok(key) => key,
        Err(e) => return refused(&OperatorError::Unavailable(e.to_string())),
    };
    let value = operator::sign_session(&key, &operator, now);
    let mut reply = Reply::redirect("/dashboard".to_owned())
        .with_cookie(operator::session_cookie(&value, request.secure_cookies));
    // See Other: the browser GETs the page after the POST.
    reply.status = 303;
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_form_token_is_read_and_decoded() {
        assert_eq!(form_token(b"token=syo_abc"), Some("syo_abc".into()));
        assert_eq!(
            form_token(b"x=1&token=syo_a%2Db%3D"),
            Some("syo_a-b=".into())
        );
        assert_eq!(form_token(b"x=1"), None);
    }
}
