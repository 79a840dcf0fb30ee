//! What a provider's webhook code says about a verified request, behind one trait.
//!
//! Most providers need no code: [`super::declared::Declared`] reads their definition's `events`
//! and `tenant` sections. A provider whose requests data cannot describe (Slack's three body
//! shapes, Discord's interaction types) implements [`WebhookPlugin`] and is listed once in
//! [`super::CODE_PLUGINS`].

use std::collections::BTreeMap;

use http::HeaderMap;
use serde_json::Value;

use switchyard_core::policy::Scope;
use switchyard_core::reply::Reply;
use switchyard_core::workitem::WorkItem;

/// A verified body that is not what the provider sends (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

/// A verified request.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// What verification established besides authenticity (the stored channel's `watch_id`).
    pub facts: &'a crate::verify::Facts,
}

impl Inbound<'_> {
    /// A header's value, if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A fact the provider signed that names a tenant: `config` is the instance config key it must
/// match (`team_id`, `shop`), `value` what the request says (`None`: it says nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantFact {
    pub config: String,
    pub value: Option<String>,
}

impl TenantFact {
    pub fn new(config: &str, value: Option<&str>) -> Self {
        Self {
            config: config.to_owned(),
            value: value.filter(|v| !v.is_empty()).map(str::to_owned),
        }
    }
}

/// Why the facts a request carries do not bind it to an instance with `config`, if they do not.
/// A fact binds only when the instance has its config key set; the value must then be one of
/// the (comma-separated) configured values.
pub fn tenant_mismatch(config: &BTreeMap<String, String>, facts: &[TenantFact]) -> Option<String> {
    facts.iter().find_map(|fact| {
        let configured = config.get(&fact.config)?;
        let mut allowed = configured
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty());
        match &fact.value {
            Some(value) if allowed.any(|a| a == value) => None,
            Some(value) => Some(format!("{} {value:?} is not this instance's", fact.config)),
            None => Some(format!("the request names no {}", fact.config)),
        }
    })
}

/// What a verified request asks of us.
#[derive(Debug, Clone, PartialEq)]
pub enum Interpretation {
    /// Answer now, queue nothing (handshakes, health checks). A tenant mismatch turns it into 403.
    Reply {
        reply: Reply,
        tenant: Vec<TenantFact>,
    },
    /// Claim and queue each delivery, then answer with `ack`.
    Deliver {
        deliveries: Vec<Delivery>,
        ack: Reply,
    },
}

impl Interpretation {
    /// A reply bound to no tenant.
    pub fn reply(reply: Reply) -> Self {
        Self::Reply {
            reply,
            tenant: Vec::new(),
        }
    }
}

/// One event to claim and queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The provider's stable id (the dedup key), prefixed by its kind where ids could collide.
    pub id: String,
    pub kind: String,
    pub payload: Value,
    /// What ingress already understood (declared providers); code plugins normalize later.
    pub event: Option<switchyard_core::workitem::EventMeta>,
    pub tenant: Vec<TenantFact>,
}

/// A WorkItem understood: its type, scope, attributes and how to reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    pub event_type: String,
    pub scope: Scope,
    pub occurred_at: u64,
    /// Resource attributes trigger policies match on.
    pub attributes: BTreeMap<String, String>,
    pub reply: Value,
}

/// A provider's webhook code: only what its definition cannot say.
pub trait WebhookPlugin: Send + Sync + std::fmt::Debug {
    /// What a verified request means.
    fn interpret(&self, request: &Inbound<'_>) -> Result<Interpretation, Malformed>;

    /// Understands a queued delivery; `None`: nothing an agent should see (the app's own
    /// messages). By default, what ingress recorded in the WorkItem.
    fn normalize(&self, item: &WorkItem, _payload: &Value) -> Option<Normalized> {
        let meta = item.event.as_ref()?;
        Some(Normalized {
            event_type: meta.name.clone(),
            scope: Scope::resource(),
            occurred_at: meta.occurred_at.unwrap_or(item.received_at),
            attributes: meta.attributes.clone(),
            reply: Value::Null,
        })
    }

    /// The answer when no granted agent takes a delivery, decided at ingress so the user is not
    /// left waiting (Discord: an ephemeral "not enabled here"). `None`: acknowledge as usual.
    fn unrouted_reply(&self) -> Option<Reply> {
        None
    }

    /// The message that asks a person to approve a gated tool call on this provider's chat
    /// (Slack: Block Kit buttons carrying the approval id), as a tool call: the tool id and its
    /// input. `None`: this provider cannot ask.
    fn approval_message(&self, _request: &ApprovalRequest<'_>) -> Option<(String, Value)> {
        None
    }

    /// The approval decision a verified delivery carries (a button of
    /// [`WebhookPlugin::approval_message`] clicked), with the approver as the provider signed
    /// it. `None`: an ordinary delivery.
    fn approval_decision(&self, _item: &WorkItem, _payload: &Value) -> Option<ApprovalDecision> {
        None
    }

    /// What a verified delivery changes in the gateway's own state, besides the agent event
    /// (an uninstall revokes the connection, an inbound message opens a messaging window). The
    /// consumer applies them before publishing; each is an idempotent write, so a redelivery
    /// applies it again harmlessly. Empty by default.
    fn effects(&self, _item: &WorkItem, _payload: &Value) -> Vec<Effect> {
        Vec::new()
    }
}

/// A change to the gateway's state that a provider's delivery asks for. Kinds, not providers:
/// each provider's plugin says which of its deliveries mean which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The account removed the app (Shopify `app/uninstalled`): the instance's connections are
    /// revoked.
    AppUninstalled,
    /// A person wrote to the instance (WhatsApp): the customer-service window with them opens at
    /// `at` (unix seconds).
    InboundMessage { recipient: String, at: u64 },
    /// A person asked to get no more messages (`STOP`, `UNSUBSCRIBE`).
    OptedOut { recipient: String, at: u64 },
    /// A person asked to get messages again (`START`).
    OptedIn { recipient: String, at: u64 },
    /// The provider's status for a message a tool sent (`delivered`, `bounce`, `read`…),
    /// correlated to the tool call's receipt by the provider's message id.
    MessageStatus {
        message_id: String,
        /// The recipient the status is about, when the provider says (one message can have
        /// many).
        recipient: Option<String>,
        status: String,
        at: u64,
    },
}

/// A gated call, as an approver is shown it.
#[derive(Debug, Clone, Copy)]
pub struct ApprovalRequest<'a> {
    pub approval_id: &'a str,
    pub tool: &'a str,
    pub instance_id: &'a str,
    pub agent_id: &'a str,
    pub user: Option<&'a str>,
    /// The full arguments.
    pub arguments: &'a Value,
    /// Unix seconds.
    pub expires_at: u64,
    /// Where to ask (a channel id of the approving instance).
    pub channel: &'a str,
}

/// An approver's decision, from a verified delivery.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApprovalDecision {
    pub approval_id: String,
    pub approve: bool,
    /// Who decided, as the provider signed it (`slack:<team>/<user>`).
    pub approver: String,
}
