//! The `email.*` tools (`shared/integrations/email.json`): one message, or one per recipient,
//! through the service the instance names ([`Service`]: SendGrid v3 or SES v2), from the
//! instance's verified sender. Input is checked before anything is sent (addresses that cannot
//! carry a header, the recipient count, the size cap); every accepted message's id goes on the
//! receipt and into the message log, where delivery statuses are recorded against it later.

mod address;
mod batch;
mod sendgrid;
mod ses;

use serde_json::{json, Value};
use switchyard_aws::messages::SentMessage;

use crate::error::ErrorCode;
use crate::executor::Call;
use crate::ToolError;

/// The handlers this module runs (each also listed in `definitions::HANDLERS`).
const HANDLED: &[&str] = &["email_send", "email_send_batch"];

/// Recipients of one message, to, cc and bcc together (SES's limit; SendGrid's is higher).
pub(crate) const MAX_RECIPIENTS: usize = 50;
/// Subject plus bodies unless the instance says `max_message_bytes`.
pub(crate) const DEFAULT_MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// SendGrid personalizations per request (`personalizations.maxItems`).
pub(crate) const SENDGRID_MAX_PERSONALIZATIONS: usize = 1000;

/// Whether `handler` is one of this module's.
pub(crate) fn handles(handler: &str) -> bool {
    HANDLED.contains(&handler)
}

/// Runs `handler` for `input`.
pub(crate) async fn run(
    call: &mut Call<'_>,
    handler: &str,
    input: &Value,
) -> Result<Value, ToolError> {
    match handler {
        "email_send" => send(call, input).await,
        "email_send_batch" => batch::send_batch(call, input).await,
        other => Err(ToolError::internal(&format!("no email handler {other}"))),
    }
}

/// Which service sends, from the instance's `service`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    SendGrid,
    Ses,
}

impl Service {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::SendGrid => "sendgrid",
            Self::Ses => "ses",
        }
    }
}

/// The instance's sending settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub service: Service,
    pub from: String,
    pub from_name: Option<String>,
    pub sendgrid_base_url: String,
    pub configuration_set: Option<String>,
    pub max_message_bytes: usize,
    pub max_per_request: usize,
}

impl Settings {
    pub(crate) fn of(call: &Call<'_>) -> Result<Self, ToolError> {
        let config = &call.instance.config;
        let service = match config.get("service").map(String::as_str) {
            Some("sendgrid") => Service::SendGrid,
            Some("ses") => Service::Ses,
            _ => {
                return Err(ToolError::misconfigured(
                    "the instance's service must be sendgrid or ses",
                ))
            }
        };
        let from = config
            .get("from")
            .filter(|f| address::check(f).is_ok())
            .ok_or_else(|| ToolError::misconfigured("the instance has no valid `from` address"))?
            .clone();
        let number = |key: &str, default: usize| {
            config
                .get(key)
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|n| *n > 0)
                .unwrap_or(default)
        };
        Ok(Self {
            service,
            from,
            from_name: config.get("from_name").cloned(),
            sendgrid_base_url: config
                .get("sendgrid_base_url")
                .map_or("https://api.sendgrid.com", |u| u.trim_end_matches('/'))
                .to_owned(),
            configuration_set: config.get("configuration_set").cloned(),
            max_message_bytes: number("max_message_bytes", DEFAULT_MAX_MESSAGE_BYTES),
            max_per_request: number("max_recipients_per_request", SENDGRID_MAX_PERSONALIZATIONS)
                .min(SENDGRID_MAX_PERSONALIZATIONS),
        })
    }
}

/// What every message of a call says.
#[derive(Debug, Clone)]
pub(crate) struct Content {
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
    pub reply_to: Option<String>,
}

impl Content {
    /// From the input, with the reply-to address checked and the size cap applied.
    pub(crate) fn of(input: &Value, settings: &Settings) -> Result<Self, ToolError> {
        let text = |key: &str| input.get(key).and_then(Value::as_str).map(str::to_owned);
        let content = Self {
            subject: text("subject").unwrap_or_default(),
            text: text("text"),
            html: text("html"),
            reply_to: text("reply_to"),
        };
        if content.text.is_none() && content.html.is_none() {
            return Err(invalid("a message needs text or html"));
        }
        if content.subject.contains(['\r', '\n']) {
            return Err(invalid("the subject cannot contain line breaks"));
        }
        if let Some(reply_to) = &content.reply_to {
            address::check(reply_to).map_err(|e| invalid(&format!("reply_to: {e}")))?;
        }
        let size = content.subject.len()
            + content.text.as_ref().map_or(0, String::len)
            + content.html.as_ref().map_or(0, String::len);
        if size > settings.max_message_bytes {
            return Err(ToolError::new(
                ErrorCode::TooLarge,
                format!(
                    "the message is {size} bytes; this instance sends at most {}",
                    settings.max_message_bytes
                ),
                false,
            ));
        }
        Ok(content)
    }
}

/// One message's recipients.
#[derive(Debug, Clone, Default)]
pub(crate) struct Envelope {
    /// `(address, display name)`.
    pub to: Vec<(String, Option<String>)>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
}

impl Envelope {
    pub(crate) fn all(&self) -> Vec<String> {
        self.to
            .iter()
            .map(|(a, _)| a.clone())
            .chain(self.cc.iter().cloned())
            .chain(self.bcc.iter().cloned())
            .collect()
    }
}

/// A message a service accepted.
#[derive(Debug, Clone)]
pub(crate) struct Accepted {
    pub message_id: String,
}

pub(crate) fn invalid(message: &str) -> ToolError {
    ToolError::invalid_input_message(message.to_owned())
}

fn addresses(input: &Value, key: &str) -> Result<Vec<String>, ToolError> {
    let list: Vec<String> = input
        .get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    for a in &list {
        address::check(a).map_err(|e| invalid(&format!("{key}: {e}")))?;
    }
    Ok(list)
}

/// Sends `envelope` through the instance's service.
pub(crate) async fn deliver(
    call: &mut Call<'_>,
    settings: &Settings,
    content: &Content,
    envelope: &Envelope,
) -> Result<Accepted, ToolError> {
    match settings.service {
        Service::SendGrid => {
            sendgrid::send(call, settings, content, std::slice::from_ref(envelope)).await
        }
        Service::Ses => ses::send(call, settings, content, envelope).await,
    }
}

/// Records an accepted message on the receipt and in the message log. The message is sent
/// whatever happens here, so a log failure is logged, not answered: failing the call would
/// invite a second send.
pub(crate) async fn record(
    call: &mut Call<'_>,
    settings: &Settings,
    accepted: &Accepted,
    recipients: Vec<String>,
) {
    call.message_ids.push(format!(
        "{}:{}",
        settings.service.name(),
        accepted.message_id
    ));
    let sent = SentMessage {
        service: settings.service.name().to_owned(),
        message_id: accepted.message_id.clone(),
        receipt_id: call.receipt_id.clone(),
        instance_id: call.instance.id.clone(),
        recipients,
    };
    let now = call.app.clock.now();
    match tokio::time::timeout_at(call.deadline, call.app.messages.record_sent(&sent, now)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!(receipt_id = %call.receipt_id, error = %e, "could not log a sent message: its delivery statuses will not be correlated")
        }
        Err(_) => {
            tracing::error!(receipt_id = %call.receipt_id, "out of time logging a sent message: its delivery statuses will not be correlated")
        }
    }
}

async fn send(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let settings = Settings::of(call)?;
    let content = Content::of(input, &settings)?;
    let envelope = Envelope {
        to: addresses(input, "to")?
            .into_iter()
            .map(|a| (a, None))
            .collect(),
        cc: addresses(input, "cc")?,
        bcc: addresses(input, "bcc")?,
    };
    let recipients = envelope.all();
    if recipients.is_empty() {
        return Err(invalid("a message needs at least one recipient"));
    }
    if recipients.len() > MAX_RECIPIENTS {
        return Err(invalid(&format!(
            "{} recipients; a message has at most {MAX_RECIPIENTS} (use email.send_batch)",
            recipients.len()
        )));
    }
    let accepted = deliver(call, &settings, &content, &envelope).await?;
    record(call, &settings, &accepted, recipients.clone()).await;
    Ok(json!({
        "service": settings.service.name(),
        "message_id": accepted.message_id,
        "accepted": recipients,
    }))
}
