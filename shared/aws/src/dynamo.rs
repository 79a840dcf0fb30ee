//! Small DynamoDB helpers shared by the stores: attribute constructors and reading a whole
//! table (admin listings and scheduled jobs only; never a request path).

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder;
use aws_sdk_dynamodb::operation::scan::ScanError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

/// One item as DynamoDB returns it.
pub type Item = HashMap<String, AttributeValue>;

/// Runs `scan` page by page and returns every item.
pub async fn all_items(
    scan: ScanFluentBuilder,
) -> Result<Vec<Item>, SdkError<ScanError, HttpResponse>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = scan.clone().set_exclusive_start_key(start).send().await?;
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() {
            return Ok(items);
        }
    }
}

/// A string attribute.
pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number attribute.
pub fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
