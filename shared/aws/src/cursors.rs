//! Sync cursors of scheduled workers (Notion polling today; Google history ids and page tokens
//! later): where the last run stopped, per instance and resource.
//!
//! Table `CursorsTable`, key `pk` = `<worker>#<instance>#<resource>`. Access patterns: get one
//! cursor, and a conditional put that only moves it from the value the worker read (two
//! overlapping runs cannot move it backwards or both win).

use aws_sdk_dynamodb::types::AttributeValue;

use crate::error::{chain, is_conditional_check_failed};

/// Why a cursor operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CursorError {
    #[error("cursor store unavailable: {0}")]
    Unavailable(String),
}

/// Cursors in DynamoDB.
#[derive(Debug, Clone)]
pub struct CursorStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl CursorStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The cursor under `key`, if a run stored one.
    pub async fn get(&self, key: &str) -> Result<Option<String>, CursorError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| CursorError::Unavailable(chain(&e)))?;
        Ok(out
            .item
            .and_then(|i| i.get("cursor").and_then(|v| v.as_s().ok()).cloned()))
    }

    /// Moves `key` from `read` (what this run started from; `None`: no cursor yet) to `cursor`.
    /// `Ok(false)`: another run moved it meanwhile, and this one's result is dropped.
    pub async fn advance(
        &self,
        key: &str,
        read: Option<&str>,
        cursor: &str,
        now: u64,
    ) -> Result<bool, CursorError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(key.to_owned()))
            .item("cursor", AttributeValue::S(cursor.to_owned()))
            .item("updated_at", AttributeValue::N(now.to_string()));
        put = match read {
            Some(previous) => put
                .condition_expression("#cursor = :read")
                .expression_attribute_names("#cursor", "cursor")
                .expression_attribute_values(":read", AttributeValue::S(previous.to_owned())),
            None => put.condition_expression("attribute_not_exists(pk)"),
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_check_failed(&e) => Ok(false),
            Err(e) => Err(CursorError::Unavailable(chain(&e))),
        }
    }
}
