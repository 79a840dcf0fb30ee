//! Shopify's webhook subscriptions, made per shop with the shop's token: on connect, one
//! `webhookSubscriptionCreate` per topic the instance lists (`webhook_topics`, e.g.
//! `orders/create,app/uninstalled`) delivering to the instance's webhook URL, their ids recorded
//! in the instance config (`webhook_subscriptions`); on disconnect, a `webhookSubscriptionDelete`
//! of each recorded id. Admin GraphQL at the instance's pinned `api_version`.

use serde_json::{json, Value};

use super::{ConnectionHook, HookContext, HookError, HookFuture};

/// The config key the subscription ids are recorded under.
pub(crate) const SUBSCRIPTIONS_KEY: &str = "webhook_subscriptions";

#[derive(Debug)]
pub(super) struct Subscriptions;

impl ConnectionHook for Subscriptions {
    fn on_connected<'a>(&'a self, cx: HookContext<'a>) -> HookFuture<'a> {
        Box::pin(subscribe(cx))
    }

    fn on_disconnected<'a>(&'a self, cx: HookContext<'a>) -> HookFuture<'a> {
        Box::pin(unsubscribe(cx))
    }
}

/// `orders/create` → `ORDERS_CREATE` (the `WebhookSubscriptionTopic` enum).
fn topic_enum(topic: &str) -> String {
    topic.trim().replace('/', "_").to_ascii_uppercase()
}

fn endpoint(cx: &HookContext<'_>) -> Result<String, HookError> {
    let config = &cx.instance.config;
    let shop = config
        .get("shop")
        .ok_or_else(|| HookError::Misconfigured("no shop".into()))?;
    let version = config
        .get("api_version")
        .ok_or_else(|| HookError::Misconfigured("no api_version".into()))?;
    let base = config
        .get("api_base_url")
        .map(|b| b.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| format!("https://{shop}"));
    Ok(format!("{base}/admin/api/{version}/graphql.json"))
}

/// Sends one GraphQL document; the `data`, or why not.
async fn graphql(cx: &HookContext<'_>, query: &str, variables: Value) -> Result<Value, HookError> {
    let url = endpoint(cx)?;
    let response = cx
        .vault
        .http()
        .post(&url)
        .header("accept", "application/json")
        .header("X-Shopify-Access-Token", cx.token.expose())
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .map_err(|e| HookError::Unreachable(e.without_url().to_string()))?;
    let status = response.status().as_u16();
    let body: Value = response
        .json()
        .await
        .map_err(|e| HookError::Unreachable(e.without_url().to_string()))?;
    if !(200..300).contains(&status) {
        return Err(HookError::Refused(format!("HTTP {status}")));
    }
    if let Some(error) = body.pointer("/errors/0/message").and_then(Value::as_str) {
        return Err(HookError::Refused(error.to_owned()));
    }
    Ok(body.get("data").cloned().unwrap_or(Value::Null))
}

fn user_errors(payload: &Value) -> Result<(), HookError> {
    match payload
        .pointer("/userErrors/0/message")
        .and_then(Value::as_str)
    {
        Some(message) => Err(HookError::Refused(message.to_owned())),
        None => Ok(()),
    }
}

const CREATE: &str = "mutation WebhookSubscriptionCreate($topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!) { webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) { webhookSubscription { id topic } userErrors { field message } } }";
const DELETE: &str = "mutation WebhookSubscriptionDelete($id: ID!) { webhookSubscriptionDelete(id: $id) { deletedWebhookSubscriptionId userErrors { field message } } }";

async fn record(cx: &HookContext<'_>, ids: &[String]) -> Result<(), HookError> {
    cx.vault
        .instances
        .set_config(
            &cx.instance.id,
            SUBSCRIPTIONS_KEY,
            &ids.join(","),
            cx.vault.clock.now(),
        )
        .await
        .map_err(|e| HookError::Record(e.to_string()))
}

async fn subscribe(cx: HookContext<'_>) -> Result<(), HookError> {
    let topics: Vec<&str> = cx
        .instance
        .config
        .get("webhook_topics")
        .map(|t| {
            t.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if topics.is_empty() {
        return Ok(());
    }
    let callback = cx
        .instance
        .config
        .get("webhook_url")
        .cloned()
        .unwrap_or_else(|| {
            format!(
                "{}/webhooks/shopify/{}",
                cx.vault.public_url.trim_end_matches('/'),
                cx.instance.id
            )
        });
    let mut ids = Vec::new();
    for topic in topics {
        let variables = json!({"topic": topic_enum(topic),
            "webhookSubscription": {"callbackUrl": callback, "format": "JSON"}});
        let created = graphql(&cx, CREATE, variables).await;
        let id = created.and_then(|data| {
            let payload = &data["webhookSubscriptionCreate"];
            user_errors(payload)?;
            payload
                .pointer("/webhookSubscription/id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| HookError::Refused("no subscription id".into()))
        });
        match id {
            Ok(id) => ids.push(id),
            Err(e) => {
                // Record what was made, so a disconnect removes it.
                record(&cx, &ids).await?;
                return Err(e);
            }
        }
    }
    record(&cx, &ids).await
}

async fn unsubscribe(cx: HookContext<'_>) -> Result<(), HookError> {
    let ids: Vec<String> = cx
        .instance
        .config
        .get(SUBSCRIPTIONS_KEY)
        .map(|v| {
            v.split(',')
                .filter(|i| !i.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let mut left = Vec::new();
    let mut failure = None;
    for id in ids {
        let deleted = graphql(&cx, DELETE, json!({"id": id}))
            .await
            .and_then(|data| user_errors(&data["webhookSubscriptionDelete"]));
        if let Err(e) = deleted {
            left.push(id);
            failure = Some(e);
        }
    }
    record(&cx, &left).await?;
    failure.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_become_the_subscription_enum() {
        assert_eq!(topic_enum("orders/create"), "ORDERS_CREATE");
        assert_eq!(topic_enum(" app/uninstalled"), "APP_UNINSTALLED");
    }
}
