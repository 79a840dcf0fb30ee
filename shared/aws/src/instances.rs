//! Plugin instances: one configured connection of a provider for a workspace.
//!
//! Table `InstancesTable`, key `pk` = instance id. Access patterns: get by id (every webhook,
//! every consumed work item), conditional create, grant/revoke one agent (update of one map
//! entry), delete, and list (admin only; a scan, never on a hot path).
//!
//! Item: `provider`, `workspace`, `config` (map of non-sensitive values), `secret_keys` (names of
//! the sensitive fields set), `sealed` (the KMS envelope of the sensitive fields, see
//! [`crate::crypto`]), `grants` (agent id → trigger policy JSON), `created_at`, `updated_at`.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde_json::json;

use crate::crypto::Envelope;
use crate::error::{chain, is_conditional_check_failed};
use crate::policy::TriggerPolicy;
use crate::wire::{attr, DYNAMODB};
use crate::AwsClients;

/// Why an instance operation failed.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    #[error("instance {0} already exists")]
    AlreadyExists(String),
    #[error("instance {0} does not exist")]
    NotFound(String),
    #[error("instance id {0:?} must be 1-64 characters of A-Z a-z 0-9 _ -")]
    BadId(String),
    #[error("instance store unavailable: {0}")]
    Unavailable(String),
    #[error("instance {id} is corrupt: {detail}")]
    Corrupt { id: String, detail: String },
}

/// A stored instance. Sensitive fields are only present sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instance {
    pub id: String,
    pub provider: String,
    pub workspace: String,
    pub config: BTreeMap<String, String>,
    pub secret_keys: Vec<String>,
    #[serde(skip)]
    pub sealed: Option<Envelope>,
    pub grants: BTreeMap<String, TriggerPolicy>,
    pub created_at: u64,
    pub updated_at: u64,
}

/// Checks an instance id (it appears in URLs and keys).
pub fn check_id(id: &str) -> Result<(), InstanceError> {
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(InstanceError::BadId(id.to_owned()))
    }
}

/// Instances in DynamoDB.
#[derive(Debug, Clone)]
pub struct InstanceStore {
    /// [`Self::get`] and [`Self::set_secrets`] (the webhook's and the consumer's) go on the wire
    /// client; the rest on the SDK's, built at first use (see [`AwsClients`]).
    aws: AwsClients,
    table: String,
}

fn unavailable(e: impl std::error::Error) -> InstanceError {
    InstanceError::Unavailable(chain(&e))
}

impl InstanceStore {
    pub fn new(aws: &AwsClients, table: impl Into<String>) -> Self {
        Self {
            aws: aws.clone(),
            table: table.into(),
        }
    }

    /// The instance `id`, or `None`.
    pub async fn get(&self, id: &str) -> Result<Option<Instance>, InstanceError> {
        if check_id(id).is_err() {
            return Ok(None);
        }
        self.aws
            .wire_ref()
            .get_item(&self.table, id, false)
            .await
            .map_err(unavailable)?
            .map(|item| from_item(id, &item))
            .transpose()
    }

    /// Stores a new instance; fails if the id is taken.
    pub async fn create(&self, instance: &Instance) -> Result<(), InstanceError> {
        check_id(&instance.id)?;
        let put = self
            .aws
            .dynamodb()
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(instance)?))
            .condition_expression("attribute_not_exists(pk)");
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_check_failed(&e) => {
                Err(InstanceError::AlreadyExists(instance.id.clone()))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Deletes `id`; `Ok(false)` if there was nothing to delete.
    pub async fn delete(&self, id: &str) -> Result<bool, InstanceError> {
        let out = self
            .aws
            .dynamodb()
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(id.to_owned()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.attributes.is_some())
    }

    /// Every instance, sorted by id (admin listing; scans the table).
    pub async fn list(&self) -> Result<Vec<Instance>, InstanceError> {
        let items = crate::dynamo::all_items(self.aws.dynamodb().scan().table_name(&self.table))
            .await
            .map_err(unavailable)?;
        let mut all = Vec::with_capacity(items.len());
        for item in &items {
            let id = item
                .get("pk")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            all.push(from_item(&id, item)?);
        }
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }

    /// Sets one non-sensitive config value (guardrails, breaker settings).
    pub async fn set_config(
        &self,
        id: &str,
        key: &str,
        value: &str,
        now: u64,
    ) -> Result<(), InstanceError> {
        let update = self
            .aws
            .dynamodb()
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(id.to_owned()))
            .update_expression("SET config.#key = :value, updated_at = :now")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#key", key)
            .expression_attribute_values(":value", AttributeValue::S(value.to_owned()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()));
        match update.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_check_failed(&e) => {
                Err(InstanceError::NotFound(id.to_owned()))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Replaces the sealed secrets and their key names, if the instance was not changed since
    /// `seen_updated_at` (`Ok(false)`: it was; read it again).
    pub async fn set_secrets(
        &self,
        id: &str,
        sealed: &Envelope,
        secret_keys: &[String],
        seen_updated_at: u64,
        now: u64,
    ) -> Result<bool, InstanceError> {
        let corrupt = |e: serde_json::Error| InstanceError::Corrupt {
            id: id.to_owned(),
            detail: e.to_string(),
        };
        let update = json!({
            "TableName": self.table,
            "Key": { "pk": attr::s(id) },
            "UpdateExpression": "SET sealed = :sealed, secret_keys = :keys, updated_at = :now",
            "ConditionExpression": "attribute_exists(pk) AND updated_at = :seen",
            "ExpressionAttributeValues": {
                ":sealed": attr::s(&serde_json::to_string(sealed).map_err(corrupt)?),
                ":keys": attr::string_list(secret_keys),
                ":seen": attr::n(seen_updated_at),
                ":now": attr::n(now),
            },
        });
        match self
            .aws
            .wire_ref()
            .write(&DYNAMODB, "UpdateItem", &update)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_conditional_check_failed() => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Grants `agent` the instance with `policy` (replacing an earlier grant).
    pub async fn grant(
        &self,
        id: &str,
        agent: &str,
        policy: &TriggerPolicy,
        now: u64,
    ) -> Result<(), InstanceError> {
        let policy = serde_json::to_string(policy).map_err(|e| InstanceError::Corrupt {
            id: id.to_owned(),
            detail: e.to_string(),
        })?;
        self.update_grant(
            id,
            agent,
            "SET grants.#agent = :policy, updated_at = :now",
            Some(policy),
            now,
        )
        .await
    }

    /// Withdraws `agent`'s grant.
    pub async fn revoke(&self, id: &str, agent: &str, now: u64) -> Result<(), InstanceError> {
        self.update_grant(
            id,
            agent,
            "REMOVE grants.#agent SET updated_at = :now",
            None,
            now,
        )
        .await
    }

    async fn update_grant(
        &self,
        id: &str,
        agent: &str,
        expression: &str,
        policy: Option<String>,
        now: u64,
    ) -> Result<(), InstanceError> {
        let mut update = self
            .aws
            .dynamodb()
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(id.to_owned()))
            .update_expression(expression)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#agent", agent)
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()));
        if let Some(policy) = policy {
            update = update.expression_attribute_values(":policy", AttributeValue::S(policy));
        }
        match update.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_check_failed(&e) => {
                Err(InstanceError::NotFound(id.to_owned()))
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

fn to_item(
    i: &Instance,
) -> Result<std::collections::HashMap<String, AttributeValue>, InstanceError> {
    let corrupt = |e: serde_json::Error| InstanceError::Corrupt {
        id: i.id.clone(),
        detail: e.to_string(),
    };
    let mut item = std::collections::HashMap::new();
    item.insert("pk".into(), AttributeValue::S(i.id.clone()));
    item.insert("provider".into(), AttributeValue::S(i.provider.clone()));
    item.insert("workspace".into(), AttributeValue::S(i.workspace.clone()));
    item.insert(
        "config".into(),
        AttributeValue::M(
            i.config
                .iter()
                .map(|(k, v)| (k.clone(), AttributeValue::S(v.clone())))
                .collect(),
        ),
    );
    item.insert(
        "secret_keys".into(),
        AttributeValue::L(
            i.secret_keys
                .iter()
                .cloned()
                .map(AttributeValue::S)
                .collect(),
        ),
    );
    if let Some(sealed) = &i.sealed {
        item.insert(
            "sealed".into(),
            AttributeValue::S(serde_json::to_string(sealed).map_err(corrupt)?),
        );
    }
    let mut grants = std::collections::HashMap::new();
    for (agent, policy) in &i.grants {
        grants.insert(
            agent.clone(),
            AttributeValue::S(serde_json::to_string(policy).map_err(corrupt)?),
        );
    }
    item.insert("grants".into(), AttributeValue::M(grants));
    item.insert(
        "created_at".into(),
        AttributeValue::N(i.created_at.to_string()),
    );
    item.insert(
        "updated_at".into(),
        AttributeValue::N(i.updated_at.to_string()),
    );
    Ok(item)
}

fn from_item(
    id: &str,
    item: &std::collections::HashMap<String, AttributeValue>,
) -> Result<Instance, InstanceError> {
    let corrupt = |detail: String| InstanceError::Corrupt {
        id: id.to_owned(),
        detail,
    };
    let s = |key: &str| {
        item.get(key)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| corrupt(format!("missing {key}")))
    };
    let n = |key: &str| {
        item.get(key)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let config = item
        .get("config")
        .and_then(|v| v.as_m().ok())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_s().ok()?.clone())))
                .collect()
        })
        .unwrap_or_default();
    let secret_keys = item
        .get("secret_keys")
        .and_then(|v| v.as_l().ok())
        .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
        .unwrap_or_default();
    let sealed = item
        .get("sealed")
        .and_then(|v| v.as_s().ok())
        .map(|s| serde_json::from_str(s).map_err(|e| corrupt(format!("sealed: {e}"))))
        .transpose()?;
    let mut grants = BTreeMap::new();
    if let Some(m) = item.get("grants").and_then(|v| v.as_m().ok()) {
        for (agent, v) in m {
            let policy = v
                .as_s()
                .ok()
                .and_then(|s| serde_json::from_str(s).ok())
                .ok_or_else(|| corrupt(format!("grant for {agent}")))?;
            grants.insert(agent.clone(), policy);
        }
    }
    Ok(Instance {
        id: id.to_owned(),
        provider: s("provider")?,
        workspace: s("workspace")?,
        config,
        secret_keys,
        sealed,
        grants,
        created_at: n("created_at"),
        updated_at: n("updated_at"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_url_and_key_safe() {
        assert!(check_id("acme-slack_1").is_ok());
        assert!(check_id("").is_err());
        assert!(check_id("a#b").is_err());
        assert!(check_id("../x").is_err());
        assert!(check_id(&"a".repeat(65)).is_err());
    }

    #[test]
    fn item_round_trips() {
        let mut grants = BTreeMap::new();
        grants.insert(
            "agent-1".to_owned(),
            TriggerPolicy {
                channels: vec!["C1".into()],
                ..Default::default()
            },
        );
        let i = Instance {
            id: "acme".into(),
            provider: "slack".into(),
            workspace: "ws".into(),
            config: [("team_id".to_owned(), "T1".to_owned())].into(),
            secret_keys: vec!["signing_secret".into()],
            sealed: Some(Envelope {
                v: 1,
                wrapped_key: "a".into(),
                nonce: "b".into(),
                ciphertext: "c".into(),
                provider: None,
            }),
            grants,
            created_at: 1,
            updated_at: 2,
        };
        let item = to_item(&i).expect("item");
        assert_eq!(from_item("acme", &item).expect("parse"), i);
    }
}
