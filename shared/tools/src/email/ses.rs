//! Amazon SES v2 `SendEmail` with simple content, through the AWS SDK with the function's role
//! (the emulator locally). The answer's `MessageId` is the id SES's events carry as
//! `mail.messageId`; the instance's `configuration_set` routes those events to EventBridge.
//! <https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html>

use std::time::Instant;

use switchyard_aws::sesv2::error::{ProvideErrorMetadata as _, SdkError};
use switchyard_aws::sesv2::operation::send_email::SendEmailError;
use switchyard_aws::sesv2::types::{
    Body, Content as SesContent, Destination, EmailContent, Message,
};

use super::{Accepted, Content, Envelope, Settings};
use crate::error::{ErrorCode, Fault};
use crate::executor::Call;
use crate::outbound::Attempt;
use crate::ToolError;

/// The path `SendEmail` posts to, as receipts record attempts.
const PATH: &str = "/v2/email/outbound-emails";

fn part(data: &str) -> Result<SesContent, ToolError> {
    SesContent::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| ToolError::internal(&e.to_string()))
}

fn display(address: &str, name: Option<&str>) -> String {
    match name {
        // A quoted display name; quotes and backslashes escaped (RFC 5322 quoted-string).
        Some(name) => format!(
            "\"{}\" <{address}>",
            name.replace('\\', "\\\\").replace('"', "\\\"")
        ),
        None => address.to_owned(),
    }
}

/// Sends one message to `envelope`; SES's message id.
pub(crate) async fn send(
    call: &mut Call<'_>,
    settings: &Settings,
    content: &Content,
    envelope: &Envelope,
) -> Result<Accepted, ToolError> {
    let mut body = Body::builder();
    if let Some(text) = &content.text {
        body = body.text(part(text)?);
    }
    if let Some(html) = &content.html {
        body = body.html(part(html)?);
    }
    let message = Message::builder()
        .subject(part(&content.subject)?)
        .body(body.build())
        .build();
    let destination = Destination::builder()
        .set_to_addresses(Some(
            envelope
                .to
                .iter()
                .map(|(a, n)| display(a, n.as_deref()))
                .collect(),
        ))
        .set_cc_addresses((!envelope.cc.is_empty()).then(|| envelope.cc.clone()))
        .set_bcc_addresses((!envelope.bcc.is_empty()).then(|| envelope.bcc.clone()))
        .build();
    let request = call
        .app
        .ses
        .send_email()
        .from_email_address(display(&settings.from, settings.from_name.as_deref()))
        .destination(destination)
        .content(EmailContent::builder().simple(message).build())
        .set_reply_to_addresses(content.reply_to.clone().map(|r| vec![r]))
        .set_configuration_set_name(settings.configuration_set.clone());
    let started = Instant::now();
    let result = tokio::time::timeout_at(call.deadline, request.send()).await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut attempt = Attempt {
        method: "POST".into(),
        path: PATH.into(),
        status: None,
        latency_ms,
        decision: None,
        waited_ms: 0,
        rate_limit: Default::default(),
        provider_request_id: None,
    };
    let outcome = match result {
        Err(_) => Err(unknown("the deadline passed while SES had the request")),
        Ok(Ok(out)) => {
            attempt.status = Some(200);
            attempt.provider_request_id =
                switchyard_aws::sesv2::operation::RequestId::request_id(&out).map(str::to_owned);
            out.message_id
                .filter(|id| !id.is_empty())
                .map(|message_id| Accepted { message_id })
                .ok_or_else(|| {
                    ToolError::new(
                        ErrorCode::InvalidOutput,
                        "SES accepted the message without a MessageId",
                        false,
                    )
                })
        }
        Ok(Err(e)) => {
            attempt.status = e.raw_response().map(|r| r.status().as_u16());
            Err(error_of(&e))
        }
    };
    call.last_status = attempt.status.or(call.last_status);
    call.attempts.push(attempt);
    outcome
}

/// A request SES may have acted on, with no answer: not to be repeated blindly.
fn unknown(message: &str) -> ToolError {
    ToolError {
        fault: Fault::Provider {
            may_have_acted: true,
        },
        ..ToolError::new(ErrorCode::ProviderUnavailable, message, true)
    }
}

/// SES's refusal as a tool error. Throttling (`TooManyRequestsException`, a sending quota's
/// `LimitExceededException`) is `rate_limited` and retryable: SES did not send.
pub(crate) fn error_of(e: &SdkError<SendEmailError>) -> ToolError {
    let SdkError::ServiceError(service) = e else {
        // No answer (a dispatch failure, a timeout, an unreadable response): SES may have sent.
        return unknown(&format!("SES gave no usable answer: {e}"));
    };
    let err = service.err();
    let message = err.message().unwrap_or("SES error").to_owned();
    let status = service.raw().status().as_u16();
    let (code, retryable) = match err {
        SendEmailError::TooManyRequestsException(_) | SendEmailError::LimitExceededException(_) => {
            (ErrorCode::RateLimited, true)
        }
        SendEmailError::BadRequestException(_) => (ErrorCode::InvalidInput, false),
        SendEmailError::NotFoundException(_) => (ErrorCode::Misconfigured, false),
        SendEmailError::MailFromDomainNotVerifiedException(_) => (ErrorCode::ProviderAuth, false),
        _ => (ErrorCode::ProviderError, false),
    };
    let fault = if status >= 500 {
        Fault::Provider {
            may_have_acted: true,
        }
    } else {
        Fault::NotProvider
    };
    ToolError {
        provider_status: Some(status),
        fault,
        ..ToolError::new(code, format!("SES: {message}"), retryable)
    }
}
