//! The handshakes that arrive unsigned, answered from the provider's definition.
//!
//! - `hub-challenge` (Meta, WhatsApp): `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`
//!   is answered with the challenge as text when the token equals the instance's, in constant
//!   time; anything else is 403.
//! - `verification-token` (Notion): the one-time unsigned `POST {"verification_token": "…"}` is
//!   sealed as the instance's secret (it then keys the signature), audited, and shown to the
//!   operator by `switchyard instance show <id> --reveal-verification-token`. A second, different
//!   token is refused (403) and audited: replacing a working key from an unsigned request would
//!   let anyone cut the instance off.

use serde_json::Value;
use subtle::ConstantTimeEq;

use super::{IngestError, ResolvedInstance, WebhookRequest};
use crate::providers::{HandshakeDef, WebhookDef};
use crate::reply::Reply;
use crate::Ingress;

/// The instance fields the handshakes of `webhook` compare against.
pub(super) fn fields(webhook: &WebhookDef) -> impl Iterator<Item = &str> {
    webhook.handshakes.iter().map(|h| match h {
        HandshakeDef::HubChallenge { verify_token_field } => verify_token_field.as_str(),
        HandshakeDef::VerificationToken { field } => field.as_str(),
    })
}

fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Answers Meta's subscription check; the only GET a webhook route takes.
pub(super) fn hub_challenge(
    webhook: &WebhookDef,
    resolved: &ResolvedInstance,
    query: &str,
) -> Result<Reply, IngestError> {
    let field = webhook
        .handshakes
        .iter()
        .find_map(|h| match h {
            HandshakeDef::HubChallenge { verify_token_field } => Some(verify_token_field),
            HandshakeDef::VerificationToken { .. } => None,
        })
        .ok_or_else(|| IngestError::MethodNotAllowed("GET".into()))?;
    let mut mode = None;
    let mut token = None;
    let mut challenge = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "hub.mode" => mode = Some(value.into_owned()),
            "hub.verify_token" => token = Some(value.into_owned()),
            "hub.challenge" => challenge = Some(value.into_owned()),
            _ => {}
        }
    }
    let expected = resolved
        .handshake_secrets
        .get(field)
        .ok_or_else(|| IngestError::Misconfigured(format!("instance has no {field}")))?;
    let token_ok = token.is_some_and(|t| same(&t, expected.expose()));
    match (mode.as_deref(), challenge) {
        (Some("subscribe"), Some(challenge)) if token_ok && !challenge.is_empty() => {
            Ok(Reply::text(200, &challenge))
        }
        _ => Err(IngestError::Forbidden(
            "subscription check with a wrong verify token or mode".into(),
        )),
    }
}

/// Captures Notion's verification token, when this request is that handshake.
pub(super) async fn verification_token(
    app: &Ingress,
    webhook: &WebhookDef,
    resolved: &ResolvedInstance,
    request: WebhookRequest<'_>,
) -> Result<Option<Reply>, IngestError> {
    let Some(field) = webhook.handshakes.iter().find_map(|h| match h {
        HandshakeDef::VerificationToken { field } => Some(field),
        HandshakeDef::HubChallenge { .. } => None,
    }) else {
        return Ok(None);
    };
    // A signed request is an event, whatever its body says.
    let signature_header = match &resolved.verifier {
        Ok(v) => v.signature_header(),
        Err(_) => "",
    };
    if !signature_header.is_empty() && request.headers.contains_key(signature_header) {
        return Ok(None);
    }
    let Some(token) = serde_json::from_slice::<Value>(request.body)
        .ok()
        .and_then(|v| v.get("verification_token")?.as_str().map(str::to_owned))
        .filter(|t| !t.is_empty())
    else {
        return Ok(None);
    };
    let id = &resolved.instance.id;
    let now = app.clock.now();
    // Read afresh: the cached instance may predate another capture.
    let instance = app
        .instances
        .get(id)
        .await?
        .ok_or(IngestError::UnknownInstance)?;
    let mut secrets = match &instance.sealed {
        Some(sealed) => app.keyring.open(id, sealed).await?,
        None => Default::default(),
    };
    if let Some(existing) = secrets.get(field.as_str()) {
        if same(existing.expose(), &token) {
            return Ok(Some(Reply::empty(200)));
        }
        audit(
            app,
            id,
            "verification_token_refused",
            "a different token arrived; the one set is kept",
            now,
        )
        .await;
        return Err(IngestError::Forbidden(
            "a verification token is already set for this instance".into(),
        ));
    }
    secrets.insert(field.clone(), token.as_str().into());
    let sealed = app.keyring.seal(&instance.provider, id, &secrets).await?;
    let keys: Vec<String> = secrets.keys().cloned().collect();
    if !app
        .instances
        .set_secrets(id, &sealed, &keys, instance.updated_at, now)
        .await?
    {
        return Err(IngestError::Unavailable(
            "the instance changed while the token was stored; retry".into(),
        ));
    }
    app.verifiers.forget(id);
    audit(
        app,
        id,
        "verification_token_captured",
        "reveal it with `switchyard instance show <id> --reveal-verification-token`",
        now,
    )
    .await;
    tracing::info!(instance_id = %id, "verification token captured and sealed");
    Ok(Some(Reply::empty(200)))
}

async fn audit(app: &Ingress, id: &str, action: &str, detail: &str, now: u64) {
    let target = format!("instance#{id}");
    if let Err(e) = app
        .audit
        .record(&target, &app.actor, action, detail, now)
        .await
    {
        tracing::warn!(instance_id = %id, error = %e, "could not audit {action}");
    }
}
