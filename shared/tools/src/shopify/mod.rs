//! The `shopify.*` tools (`shared/integrations/shopify.json`): Admin GraphQL queries and
//! mutations of the instance's shop at its pinned API version, paced by the shop's cost budget
//! ([`budget`], [`graphql`]); customer fields redacted unless the instance allows them ([`pii`]).
//! The internal `shopify_sync.*` methods (bulk operations) are what the nightly bulk sync calls
//! through [`crate::call_for_worker`]; webhook subscriptions are the OAuth connect hook's
//! (`switchyard_oauth::hooks`).

pub mod budget;
pub mod bulk_sync;
pub(crate) mod graphql;
pub mod pii;

use serde_json::{json, Map, Value};

use crate::executor::Call;
use crate::outbound::Retry;
use crate::ToolError;

/// The handlers this module runs (each also listed in `infra/check_definitions.py`).
const HANDLED: &[&str] = &[
    "shopify_orders_list",
    "shopify_order_get",
    "shopify_products_list",
    "shopify_product_update",
    "shopify_inventory_adjust",
    "shopify_customers_list",
    "shopify_shop_get",
    "shopify_themes_list",
    "shopify_theme_publish",
    "shopify_script_tags_list",
    "shopify_script_tag_delete",
    "shopify_bulk_run",
    "shopify_bulk_status",
];

/// Whether `handler` is one of this module's.
pub(crate) fn handles(handler: &str) -> bool {
    HANDLED.contains(&handler)
}

const MONEY: &str = "shopMoney { amount currencyCode }";
const ADDRESS: &str = "address1 address2 city province zip country";

fn order_fields() -> String {
    format!(
        "id name createdAt displayFinancialStatus displayFulfillmentStatus email phone \
         totalPriceSet {{ {MONEY} }} customer {{ id displayName firstName lastName email phone }} \
         shippingAddress {{ {ADDRESS} }}"
    )
}

const PRODUCT_FIELDS: &str =
    "id title handle status vendor productType tags totalInventory updatedAt";

/// Runs `handler` for `input`.
pub(crate) async fn run(
    call: &mut Call<'_>,
    handler: &str,
    input: &Value,
) -> Result<Value, ToolError> {
    match handler {
        "shopify_orders_list" => {
            let query = format!(
                "query OrdersList($first: Int!, $after: String, $query: String) {{ orders(first: $first, after: $after, query: $query, reverse: true) {{ nodes {{ {} }} pageInfo {{ hasNextPage endCursor }} }} }}",
                order_fields()
            );
            let data = read(call, &query, page_variables(input)).await?;
            let out = page(&data["orders"], "orders");
            redacted(call, out)
        }
        "shopify_order_get" => {
            let query = format!(
                "query OrderGet($id: ID!) {{ order(id: $id) {{ {} lineItems(first: 50) {{ nodes {{ title quantity sku }} }} }} }}",
                order_fields()
            );
            let data = read(call, &query, json!({"id": input["id"]})).await?;
            let order = found(&data["order"], "order")?;
            redacted(call, json!({"order": order}))
        }
        "shopify_products_list" => {
            let query = format!(
                "query ProductsList($first: Int!, $after: String, $query: String) {{ products(first: $first, after: $after, query: $query) {{ nodes {{ {PRODUCT_FIELDS} }} pageInfo {{ hasNextPage endCursor }} }} }}"
            );
            let data = read(call, &query, page_variables(input)).await?;
            Ok(page(&data["products"], "products"))
        }
        "shopify_product_update" => {
            let mut product = Map::new();
            product.insert("id".into(), input["id"].clone());
            for (from, to) in [
                ("title", "title"),
                ("description_html", "descriptionHtml"),
                ("status", "status"),
                ("tags", "tags"),
            ] {
                if let Some(v) = input.get(from) {
                    product.insert(to.into(), v.clone());
                }
            }
            let query = format!(
                "mutation ProductUpdate($product: ProductUpdateInput!) {{ productUpdate(product: $product) {{ product {{ {PRODUCT_FIELDS} }} userErrors {{ field message }} }} }}"
            );
            let data = write(
                call,
                &query,
                json!({"product": product}),
                Retry::AfterSending,
            )
            .await?;
            let payload = &data["productUpdate"];
            graphql::check_user_errors(payload)?;
            Ok(json!({"product": payload["product"], "user_errors": []}))
        }
        "shopify_inventory_adjust" => {
            let query = "mutation InventoryAdjust($input: InventoryAdjustQuantitiesInput!) { inventoryAdjustQuantities(input: $input) { inventoryAdjustmentGroup { id reason createdAt changes { name delta } } userErrors { field message } } }";
            let variables = json!({"input": {
                "reason": input.get("reason").and_then(Value::as_str).unwrap_or("correction"),
                "name": input.get("name").and_then(Value::as_str).unwrap_or("available"),
                "changes": [{"delta": input["delta"], "inventoryItemId": input["inventory_item_id"],
                             "locationId": input["location_id"]}],
            }});
            // An adjustment adds: never repeated after it may have reached Shopify.
            let data = write(call, query, variables, Retry::OnlyUnsent).await?;
            let payload = &data["inventoryAdjustQuantities"];
            graphql::check_user_errors(payload)?;
            Ok(json!({"adjustment_group": payload["inventoryAdjustmentGroup"], "user_errors": []}))
        }
        "shopify_customers_list" => {
            let query = format!(
                "query CustomersList($first: Int!, $after: String, $query: String) {{ customers(first: $first, after: $after, query: $query) {{ nodes {{ id displayName firstName lastName email phone numberOfOrders createdAt defaultAddress {{ {ADDRESS} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"
            );
            let data = read(call, &query, page_variables(input)).await?;
            let out = page(&data["customers"], "customers");
            redacted(call, out)
        }
        "shopify_shop_get" => {
            let query = "query ShopGet { shop { id name myshopifyDomain currencyCode plan { displayName } } }";
            let data = read(call, query, json!({})).await?;
            Ok(json!({"shop": found(&data["shop"], "shop")?}))
        }
        "shopify_themes_list" => {
            let query = "query ThemesList($first: Int!) { themes(first: $first) { nodes { id name role createdAt updatedAt } } }";
            let data = read(call, query, json!({"first": first(input)})).await?;
            Ok(json!({"themes": nodes(&data["themes"])}))
        }
        "shopify_theme_publish" => {
            let query = "mutation ThemePublish($id: ID!) { themePublish(id: $id) { theme { id name role } userErrors { field message } } }";
            let data = write(call, query, json!({"id": input["id"]}), Retry::AfterSending).await?;
            let payload = &data["themePublish"];
            graphql::check_user_errors(payload)?;
            Ok(json!({"theme": payload["theme"], "user_errors": []}))
        }
        "shopify_script_tags_list" => {
            let query = "query ScriptTagsList($first: Int!) { scriptTags(first: $first) { nodes { id src displayScope createdAt } } }";
            let data = read(call, query, json!({"first": first(input)})).await?;
            Ok(json!({"script_tags": nodes(&data["scriptTags"])}))
        }
        "shopify_script_tag_delete" => {
            let query = "mutation ScriptTagDelete($id: ID!) { scriptTagDelete(id: $id) { deletedScriptTagId userErrors { field message } } }";
            let data = write(call, query, json!({"id": input["id"]}), Retry::AfterSending).await?;
            let payload = &data["scriptTagDelete"];
            graphql::check_user_errors(payload)?;
            Ok(json!({"deleted_id": payload["deletedScriptTagId"], "user_errors": []}))
        }
        "shopify_bulk_run" => {
            let query = "mutation BulkOperationRunQuery($query: String!) { bulkOperationRunQuery(query: $query) { bulkOperation { id status } userErrors { field message } } }";
            let data = write(
                call,
                query,
                json!({"query": CATALOG_QUERY}),
                Retry::OnlyUnsent,
            )
            .await?;
            let payload = &data["bulkOperationRunQuery"];
            graphql::check_user_errors(payload)?;
            let op = &payload["bulkOperation"];
            Ok(json!({"id": found(&op["id"], "bulk operation id")?, "status": op["status"]}))
        }
        "shopify_bulk_status" => {
            let query = "query BulkOperationStatus($id: ID!) { node(id: $id) { ... on BulkOperation { id status errorCode objectCount url } } }";
            let data = read(call, query, json!({"id": input["id"]})).await?;
            let op = found(&data["node"], "bulk operation")?;
            Ok(json!({
                "id": op["id"], "status": op["status"],
                "error_code": op.get("errorCode").cloned().unwrap_or(Value::Null),
                "object_count": op.get("objectCount").cloned().unwrap_or(Value::Null),
                "url": op.get("url").cloned().unwrap_or(Value::Null),
            }))
        }
        other => Err(ToolError::internal(&format!("no shopify handler {other}"))),
    }
}

/// The catalog the nightly bulk sync exports: products and their variants (one JSONL line
/// each; a variant's line carries its product's id as `__parentId`).
pub const CATALOG_QUERY: &str = "{ products { edges { node { id title handle status updatedAt variants { edges { node { id sku price inventoryQuantity } } } } } } }";

async fn read(call: &mut Call<'_>, query: &str, variables: Value) -> Result<Value, ToolError> {
    graphql::request(call, query, variables, Retry::AfterSending).await
}

async fn write(
    call: &mut Call<'_>,
    query: &str,
    variables: Value,
    retry: Retry,
) -> Result<Value, ToolError> {
    graphql::request(call, query, variables, retry).await
}

fn first(input: &Value) -> u64 {
    input.get("first").and_then(Value::as_u64).unwrap_or(20)
}

fn page_variables(input: &Value) -> Value {
    json!({"first": first(input), "after": input.get("after"), "query": input.get("query")})
}

fn nodes(connection: &Value) -> Value {
    connection
        .get("nodes")
        .cloned()
        .unwrap_or_else(|| json!([]))
}

/// A connection's nodes under `key`, and its page info.
fn page(connection: &Value, key: &str) -> Value {
    let info = &connection["pageInfo"];
    json!({
        key: nodes(connection),
        "page_info": {
            "has_next_page": info.get("hasNextPage").and_then(Value::as_bool).unwrap_or(false),
            "end_cursor": info.get("endCursor").cloned().unwrap_or(Value::Null),
        },
    })
}

/// `value`, or `provider_not_found` when Shopify answered null.
fn found(value: &Value, what: &str) -> Result<Value, ToolError> {
    if value.is_null() {
        return Err(ToolError::provider(404, format!("no such {what}")));
    }
    Ok(value.clone())
}

/// `output` with the customer fields the instance does not allow redacted.
fn redacted(call: &Call<'_>, mut output: Value) -> Result<Value, ToolError> {
    let allowed = pii::Allowed::from_config(
        call.instance
            .config
            .get("allow_customer_pii")
            .map(String::as_str),
    )
    .map_err(|e| ToolError::misconfigured(&e.to_string()))?;
    allowed.redact(&mut output);
    Ok(output)
}
