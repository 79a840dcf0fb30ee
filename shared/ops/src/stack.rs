//! The local stack: the resources `template.yaml` declares, created in an AWS emulator.
//!
//! The template is the single description of the deployment. Locally each table, queue, bucket,
//! key and event bus it declares is created as `<prefix>-<LogicalId>` (buckets lowercased), with
//! the key schema, TTL, visibility timeout, redrive policy and bus rules the template gives, so
//! the local stack cannot drift from what SAM deploys. Creation is idempotent.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_yaml::Value;

use switchyard::aws::AwsClients;
use switchyard::config::Resources;

/// The deployment template, compiled in.
pub const TEMPLATE: &str = include_str!("../../../template.yaml");

/// Logical ids the code depends on (checked against the template by the tests).
pub mod logical {
    pub const INSTANCES_TABLE: &str = "InstancesTable";
    pub const DELIVERIES_TABLE: &str = "DeliveriesTable";
    pub const INGRESS_QUEUE: &str = "IngressQueue";
    pub const INGRESS_DLQ: &str = "IngressDLQ";
    pub const PAYLOAD_BUCKET: &str = "PayloadBucket";
    pub const TOKEN_KEY: &str = "TokenKey";
    pub const EVENT_BUS: &str = "AgentEventBus";
    pub const TAP_QUEUE: &str = "AgentEventTapQueue";
    pub const STATES_TABLE: &str = "OAuthStatesTable";
    pub const CONNECTIONS_TABLE: &str = "ConnectionsTable";
    pub const AUDIT_TABLE: &str = "AuditTable";
    pub const PLATFORM_KEYS_SECRET: &str = "PlatformKeysSecret";
    pub const TOOL_STATE_TABLE: &str = "ToolStateTable";
    pub const RECEIPTS_TABLE: &str = "ReceiptsTable";
    pub const CURSORS_TABLE: &str = "CursorsTable";
    pub const OAUTH_LINK_KEY_SECRET: &str = "OAuthLinkKeySecret";
    pub const WATCHES_TABLE: &str = "WatchesTable";
    pub const SYNC_QUEUE: &str = "SyncQueue";
    pub const ARTIFACTS_TABLE: &str = "ArtifactsTable";
    pub const ARTIFACTS_BUCKET: &str = "ArtifactsBucket";
    pub const WORKSPACE_SETTINGS_TABLE: &str = "WorkspaceSettingsTable";
    pub const AGENTS_TABLE: &str = "AgentsTable";
    pub const JOBS_TABLE: &str = "JobsTable";
    pub const JOBS_QUEUE: &str = "JobsQueue";
    pub const APPROVALS_TABLE: &str = "ApprovalsTable";
    pub const SESSIONS_TABLE: &str = "SessionsTable";
    pub const LIVE_CONNECTIONS_TABLE: &str = "LiveConnectionsTable";
    pub const MESSAGES_TABLE: &str = "MessagesTable";
    pub const INTENTS_TABLE: &str = "IntentsTable";
    pub const INTENTS_SCHEDULE_GROUP: &str = "IntentsScheduleGroup";
    pub const INTENTS_WORKER: &str = "IntentsWorkerFunction";
    pub const INTENTS_SCHEDULER_ROLE: &str = "IntentsSchedulerRole";
    /// The stand-in queue of the live-events fan-out function's rule target.
    pub const WS_FANOUT_EVENTS: &str = "WsFanoutFunctionEvents";
    /// The stand-in queue of the SES email-events function's rule target.
    pub const EMAIL_STATUS_EVENTS: &str = "EmailStatusFunctionEvents";
}

/// Why the local stack could not be created or resolved.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("template.yaml: {0}")]
    Template(String),
    #[error("{action} {name}: {detail}")]
    Aws {
        action: &'static str,
        name: String,
        detail: String,
    },
}

fn aws_err(action: &'static str, name: &str, e: impl std::fmt::Display) -> StackError {
    StackError::Aws {
        action,
        name: name.to_owned(),
        detail: e.to_string(),
    }
}

/// One resource of the template: logical id, CloudFormation type and properties.
#[derive(Debug, Clone)]
pub struct TemplateResource {
    pub logical_id: String,
    pub kind: String,
    pub properties: Value,
}

/// The resources of `template` in declaration order.
pub fn resources(template: &str) -> Result<Vec<TemplateResource>, StackError> {
    let doc: Value =
        serde_yaml::from_str(template).map_err(|e| StackError::Template(e.to_string()))?;
    let map = doc
        .get("Resources")
        .and_then(Value::as_mapping)
        .ok_or_else(|| StackError::Template("no Resources section".into()))?;
    Ok(map
        .iter()
        .filter_map(|(id, body)| {
            Some(TemplateResource {
                logical_id: id.as_str()?.to_owned(),
                kind: body.get("Type")?.as_str()?.to_owned(),
                properties: body.get("Properties").cloned().unwrap_or(Value::Null),
            })
        })
        .collect())
}

/// The physical name of a resource in the local stack.
pub fn physical_name(prefix: &str, logical_id: &str, kind: &str) -> String {
    let name = format!("{prefix}-{logical_id}");
    if kind == "AWS::S3::Bucket" {
        name.to_ascii_lowercase()
    } else {
        name
    }
}

/// The target of `!Ref X` or `!GetAtt X.Attr`, if `value` is one.
fn reference(value: &Value) -> Option<&str> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "!Ref" => tagged.value.as_str(),
        Value::Tagged(tagged) if tagged.tag == "!GetAtt" => tagged
            .value
            .as_str()
            .and_then(|s| s.split('.').next())
            .or_else(|| tagged.value.get(0).and_then(Value::as_str)),
        Value::Mapping(m) => m.get("Ref").and_then(Value::as_str).or_else(|| {
            m.get("Fn::GetAtt")
                .and_then(|v| v.get(0))
                .and_then(Value::as_str)
        }),
        _ => None,
    }
}

fn number_prop(props: &Value, key: &str) -> Option<String> {
    match props.get(key)? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// Creates every resource the template declares that the local stack needs; returns the
/// resolved [`Resources`].
pub async fn provision(aws: &AwsClients, prefix: &str) -> Result<Resources, StackError> {
    let all = resources(TEMPLATE)?;
    let by_kind = |kind: &'static str| all.iter().filter(move |r| r.kind == kind);

    for table in by_kind("AWS::DynamoDB::Table") {
        create_table(aws, prefix, table).await?;
    }
    // Dead-letter queues first: the others' redrive policies name them.
    let mut queues: Vec<&TemplateResource> = by_kind("AWS::SQS::Queue").collect();
    queues.sort_by_key(|q| q.properties.get("RedrivePolicy").is_some());
    let mut queue_arns = BTreeMap::new();
    for queue in queues {
        let arn = create_queue(aws, prefix, queue, &queue_arns).await?;
        queue_arns.insert(queue.logical_id.clone(), arn);
    }
    for bucket in by_kind("AWS::S3::Bucket") {
        let name = physical_name(prefix, &bucket.logical_id, &bucket.kind);
        if let Err(e) = aws.s3().create_bucket().bucket(&name).send().await {
            let code = e
                .as_service_error()
                .and_then(|s| s.meta().code())
                .unwrap_or("");
            if !code.starts_with("BucketAlready") {
                return Err(aws_err("CreateBucket", &name, e));
            }
        }
    }
    for key in by_kind("AWS::KMS::Key") {
        create_key(aws, prefix, &key.logical_id).await?;
    }
    for bus in by_kind("AWS::Events::EventBus") {
        let name = physical_name(prefix, &bus.logical_id, &bus.kind);
        if let Err(e) = aws.events().create_event_bus().name(&name).send().await {
            if !e
                .as_service_error()
                .is_some_and(|s| s.is_resource_already_exists_exception())
            {
                return Err(aws_err("CreateEventBus", &name, e));
            }
        }
    }
    for secret in by_kind("AWS::SecretsManager::Secret") {
        let name = physical_name(prefix, &secret.logical_id, &secret.kind);
        // `GenerateSecretString` is CloudFormation making a random value; do the same here.
        let initial = match secret.properties.get("GenerateSecretString") {
            Some(_) => switchyard::oauth::pkce::random_token(),
            None => secret
                .properties
                .get("SecretString")
                .and_then(Value::as_str)
                .unwrap_or("{}")
                .to_owned(),
        };
        if let Err(e) = aws
            .secrets()
            .create_secret()
            .name(&name)
            .secret_string(initial)
            .send()
            .await
        {
            if !e
                .as_service_error()
                .is_some_and(|s| s.is_resource_exists_exception())
            {
                return Err(aws_err("CreateSecret", &name, e));
            }
        }
    }
    for group in by_kind("AWS::Scheduler::ScheduleGroup") {
        let name = physical_name(prefix, &group.logical_id, &group.kind);
        if let Err(e) = aws
            .scheduler()
            .create_schedule_group()
            .name(&name)
            .send()
            .await
        {
            if !e
                .as_service_error()
                .is_some_and(|s| s.is_conflict_exception())
            {
                return Err(aws_err("CreateScheduleGroup", &name, e));
            }
        }
    }
    for rule in by_kind("AWS::Events::Rule") {
        create_rule(aws, prefix, rule, &queue_arns).await?;
    }
    resolve(aws, prefix).await
}

/// The [`Resources`] of an existing local stack.
pub async fn resolve(aws: &AwsClients, prefix: &str) -> Result<Resources, StackError> {
    let queue_url = |logical_id: &'static str| async move {
        let name = physical_name(prefix, logical_id, "AWS::SQS::Queue");
        aws.sqs()
            .get_queue_url()
            .queue_name(&name)
            .send()
            .await
            .map_err(|e| aws_err("GetQueueUrl", &name, e))
            .map(|out| out.queue_url.unwrap_or_default())
    };
    Ok(Resources {
        instances_table: physical_name(prefix, logical::INSTANCES_TABLE, ""),
        deliveries_table: physical_name(prefix, logical::DELIVERIES_TABLE, ""),
        ingress_queue_url: queue_url(logical::INGRESS_QUEUE).await?,
        ingress_dlq_url: queue_url(logical::INGRESS_DLQ).await?,
        payload_bucket: physical_name(prefix, logical::PAYLOAD_BUCKET, "AWS::S3::Bucket"),
        kms_key_id: format!("alias/{}", physical_name(prefix, logical::TOKEN_KEY, "")),
        event_bus: physical_name(prefix, logical::EVENT_BUS, ""),
        states_table: physical_name(prefix, logical::STATES_TABLE, ""),
        connections_table: physical_name(prefix, logical::CONNECTIONS_TABLE, ""),
        audit_table: physical_name(prefix, logical::AUDIT_TABLE, ""),
        platform_keys_secret: physical_name(prefix, logical::PLATFORM_KEYS_SECRET, ""),
        tool_state_table: physical_name(prefix, logical::TOOL_STATE_TABLE, ""),
        receipts_table: physical_name(prefix, logical::RECEIPTS_TABLE, ""),
        cursors_table: physical_name(prefix, logical::CURSORS_TABLE, ""),
        oauth_link_key_secret: physical_name(prefix, logical::OAUTH_LINK_KEY_SECRET, ""),
        watches_table: physical_name(prefix, logical::WATCHES_TABLE, ""),
        sync_queue_url: queue_url(logical::SYNC_QUEUE).await?,
        artifacts_table: physical_name(prefix, logical::ARTIFACTS_TABLE, ""),
        artifacts_bucket: physical_name(prefix, logical::ARTIFACTS_BUCKET, "AWS::S3::Bucket"),
        workspace_settings_table: physical_name(prefix, logical::WORKSPACE_SETTINGS_TABLE, ""),
        agents_table: physical_name(prefix, logical::AGENTS_TABLE, ""),
        jobs_table: physical_name(prefix, logical::JOBS_TABLE, ""),
        jobs_queue_url: queue_url(logical::JOBS_QUEUE).await?,
        approvals_table: physical_name(prefix, logical::APPROVALS_TABLE, ""),
        sessions_table: physical_name(prefix, logical::SESSIONS_TABLE, ""),
        live_connections_table: physical_name(prefix, logical::LIVE_CONNECTIONS_TABLE, ""),
        messages_table: physical_name(prefix, logical::MESSAGES_TABLE, ""),
        intents_table: physical_name(prefix, logical::INTENTS_TABLE, ""),
        intents_schedule_group: physical_name(prefix, logical::INTENTS_SCHEDULE_GROUP, ""),
        // Nothing invokes these locally (the local host fires due schedules in-process); the
        // schedules still name a target and a role as in a deployment.
        intents_worker_arn: format!(
            "arn:aws:lambda:us-east-1:000000000000:function:{}",
            physical_name(prefix, logical::INTENTS_WORKER, "")
        ),
        intents_scheduler_role_arn: format!(
            "arn:aws:iam::000000000000:role/{}",
            physical_name(prefix, logical::INTENTS_SCHEDULER_ROLE, "")
        ),
        tap_queue_url: queue_url(logical::TAP_QUEUE).await.ok(),
        live_events_queue_url: queue_url(logical::WS_FANOUT_EVENTS).await.ok(),
        email_events_queue_url: queue_url(logical::EMAIL_STATUS_EVENTS).await.ok(),
    })
}

async fn create_table(
    aws: &AwsClients,
    prefix: &str,
    table: &TemplateResource,
) -> Result<(), StackError> {
    let name = physical_name(prefix, &table.logical_id, &table.kind);
    let props = &table.properties;
    if props.get("GlobalSecondaryIndexes").is_some() {
        return Err(StackError::Template(format!(
            "{}: GlobalSecondaryIndexes are not provisioned locally yet",
            table.logical_id
        )));
    }
    let mut create = aws
        .dynamodb()
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest);
    for attr in props
        .get("AttributeDefinitions")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let attr_name = attr
            .get("AttributeName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let attr_type = attr
            .get("AttributeType")
            .and_then(Value::as_str)
            .unwrap_or("S");
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attr_name)
                .attribute_type(ScalarAttributeType::from(attr_type))
                .build()
                .map_err(|e| aws_err("CreateTable", &name, e))?,
        );
    }
    for key in props
        .get("KeySchema")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let attr_name = key
            .get("AttributeName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let key_type = key.get("KeyType").and_then(Value::as_str).unwrap_or("HASH");
        create = create.key_schema(
            KeySchemaElement::builder()
                .attribute_name(attr_name)
                .key_type(KeyType::from(key_type))
                .build()
                .map_err(|e| aws_err("CreateTable", &name, e))?,
        );
    }
    match create.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) => {}
        Err(e) => return Err(aws_err("CreateTable", &name, e)),
    }
    if let Some(ttl) = props.get("TimeToLiveSpecification") {
        let attr = ttl
            .get("AttributeName")
            .and_then(Value::as_str)
            .unwrap_or("expires_at");
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(attr)
            .enabled(true)
            .build()
            .map_err(|e| aws_err("UpdateTimeToLive", &name, e))?;
        // Already enabled is an error on AWS; either way the TTL is on.
        let _ = aws
            .dynamodb()
            .update_time_to_live()
            .table_name(&name)
            .time_to_live_specification(spec)
            .send()
            .await;
    }
    Ok(())
}

async fn create_queue(
    aws: &AwsClients,
    prefix: &str,
    queue: &TemplateResource,
    arns: &BTreeMap<String, String>,
) -> Result<String, StackError> {
    let props = &queue.properties;
    let fifo = props
        .get("FifoQueue")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut name = physical_name(prefix, &queue.logical_id, &queue.kind);
    if fifo {
        name.push_str(".fifo");
    }
    let mut create = aws.sqs().create_queue().queue_name(&name);
    for (prop, attr) in [
        ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
        (
            "MessageRetentionPeriod",
            QueueAttributeName::MessageRetentionPeriod,
        ),
    ] {
        if let Some(v) = number_prop(props, prop) {
            create = create.attributes(attr, v);
        }
    }
    if fifo {
        create = create.attributes(QueueAttributeName::FifoQueue, "true");
    }
    if let Some(redrive) = props.get("RedrivePolicy") {
        let target = redrive
            .get("deadLetterTargetArn")
            .and_then(reference)
            .and_then(|id| arns.get(id))
            .ok_or_else(|| {
                StackError::Template(format!(
                    "{}: unresolved deadLetterTargetArn",
                    queue.logical_id
                ))
            })?;
        let max = number_prop(redrive, "maxReceiveCount").unwrap_or_else(|| "5".into());
        let policy = serde_json::json!({"deadLetterTargetArn": target, "maxReceiveCount": max});
        create = create.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    let url = create
        .send()
        .await
        .map_err(|e| aws_err("CreateQueue", &name, e))?
        .queue_url
        .unwrap_or_default();
    let attrs = aws
        .sqs()
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| aws_err("GetQueueAttributes", &name, e))?;
    attrs
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| aws_err("GetQueueAttributes", &name, "no QueueArn"))
}

async fn create_key(aws: &AwsClients, prefix: &str, logical_id: &str) -> Result<(), StackError> {
    let alias = format!("alias/{}", physical_name(prefix, logical_id, ""));
    if aws.kms().describe_key().key_id(&alias).send().await.is_ok() {
        return Ok(());
    }
    let key = aws
        .kms()
        .create_key()
        .description(format!("{prefix} {logical_id} (local stack)"))
        .send()
        .await
        .map_err(|e| aws_err("CreateKey", &alias, e))?;
    let key_id = key
        .key_metadata
        .map(|m| m.key_id)
        .ok_or_else(|| aws_err("CreateKey", &alias, "no key id"))?;
    aws.kms()
        .create_alias()
        .alias_name(&alias)
        .target_key_id(key_id)
        .send()
        .await
        .map_err(|e| aws_err("CreateAlias", &alias, e))?;
    Ok(())
}

async fn create_rule(
    aws: &AwsClients,
    prefix: &str,
    rule: &TemplateResource,
    queue_arns: &BTreeMap<String, String>,
) -> Result<(), StackError> {
    let props = &rule.properties;
    let name = physical_name(prefix, &rule.logical_id, &rule.kind);
    let bus = props
        .get("EventBusName")
        .and_then(reference)
        .map(|id| physical_name(prefix, id, "AWS::Events::EventBus"));
    let pattern = props
        .get("EventPattern")
        .map(|p| serde_json::to_string(p).map_err(|e| StackError::Template(e.to_string())))
        .transpose()?
        .ok_or_else(|| StackError::Template(format!("{}: no EventPattern", rule.logical_id)))?;
    aws.events()
        .put_rule()
        .name(&name)
        .set_event_bus_name(bus.clone())
        .event_pattern(pattern)
        .send()
        .await
        .map_err(|e| aws_err("PutRule", &name, e))?;
    for target in props
        .get("Targets")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let Some(referenced) = target.get("Arn").and_then(reference) else {
            continue;
        };
        let arn = match queue_arns.get(referenced) {
            Some(arn) => arn.clone(),
            // No Lambdas run locally: a function target gets a stand-in queue
            // `<prefix>-<Function>Events` the local host drives that function's code from.
            None if referenced.ends_with("Function") => {
                Box::pin(function_stand_in(aws, prefix, referenced)).await?
            }
            None => continue, // only SQS targets exist locally
        };
        let id = target.get("Id").and_then(Value::as_str).unwrap_or("target");
        let built = aws_sdk_eventbridge::types::Target::builder()
            .id(id)
            .arn(arn)
            .build()
            .map_err(|e| aws_err("PutTargets", &name, e))?;
        aws.events()
            .put_targets()
            .rule(&name)
            .set_event_bus_name(bus.clone())
            .targets(built)
            .send()
            .await
            .map_err(|e| aws_err("PutTargets", &name, e))?;
    }
    Ok(())
}

/// Creates the stand-in queue of a function that is a rule target; returns its ARN.
async fn function_stand_in(
    aws: &AwsClients,
    prefix: &str,
    function: &str,
) -> Result<String, StackError> {
    let name = physical_name(prefix, &format!("{function}Events"), "AWS::SQS::Queue");
    let url = aws
        .sqs()
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .map_err(|e| aws_err("CreateQueue", &name, e))?
        .queue_url
        .unwrap_or_default();
    let attributes = aws
        .sqs()
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| aws_err("GetQueueAttributes", &name, e))?;
    Ok(attributes
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_declares_what_the_code_names() {
        let all = resources(TEMPLATE).expect("template parses");
        let kind_of = |id: &str| {
            all.iter()
                .find(|r| r.logical_id == id)
                .map(|r| r.kind.as_str())
        };
        assert_eq!(
            kind_of(logical::INSTANCES_TABLE),
            Some("AWS::DynamoDB::Table")
        );
        assert_eq!(
            kind_of(logical::DELIVERIES_TABLE),
            Some("AWS::DynamoDB::Table")
        );
        assert_eq!(kind_of(logical::INGRESS_QUEUE), Some("AWS::SQS::Queue"));
        assert_eq!(kind_of(logical::INGRESS_DLQ), Some("AWS::SQS::Queue"));
        assert_eq!(kind_of(logical::TAP_QUEUE), Some("AWS::SQS::Queue"));
        assert_eq!(kind_of(logical::JOBS_QUEUE), Some("AWS::SQS::Queue"));
        assert_eq!(kind_of(logical::PAYLOAD_BUCKET), Some("AWS::S3::Bucket"));
        assert_eq!(kind_of(logical::TOKEN_KEY), Some("AWS::KMS::Key"));
        assert_eq!(kind_of(logical::EVENT_BUS), Some("AWS::Events::EventBus"));
        for table in [
            logical::STATES_TABLE,
            logical::CONNECTIONS_TABLE,
            logical::AUDIT_TABLE,
            logical::AGENTS_TABLE,
            logical::JOBS_TABLE,
            logical::APPROVALS_TABLE,
        ] {
            assert_eq!(kind_of(table), Some("AWS::DynamoDB::Table"), "{table}");
        }
    }

    #[test]
    fn ingress_queue_redrives_to_the_dlq_and_deliveries_expire() {
        let all = resources(TEMPLATE).expect("template parses");
        let ingress = all
            .iter()
            .find(|r| r.logical_id == logical::INGRESS_QUEUE)
            .expect("ingress queue");
        let redrive = ingress
            .properties
            .get("RedrivePolicy")
            .expect("redrive policy");
        assert_eq!(
            redrive.get("deadLetterTargetArn").and_then(reference),
            Some(logical::INGRESS_DLQ)
        );
        let deliveries = all
            .iter()
            .find(|r| r.logical_id == logical::DELIVERIES_TABLE)
            .expect("deliveries table");
        let ttl = deliveries
            .properties
            .get("TimeToLiveSpecification")
            .expect("ttl");
        assert_eq!(
            ttl.get("AttributeName").and_then(Value::as_str),
            Some("expires_at")
        );
    }

    #[test]
    fn function_environment_points_at_the_named_resources() {
        let all = resources(TEMPLATE).expect("template parses");
        let pairs = [
            ("SWITCHYARD_INSTANCES_TABLE", logical::INSTANCES_TABLE),
            ("SWITCHYARD_DELIVERIES_TABLE", logical::DELIVERIES_TABLE),
            ("SWITCHYARD_INGRESS_QUEUE_URL", logical::INGRESS_QUEUE),
            ("SWITCHYARD_INGRESS_DLQ_URL", logical::INGRESS_DLQ),
            ("SWITCHYARD_PAYLOAD_BUCKET", logical::PAYLOAD_BUCKET),
            ("SWITCHYARD_KMS_KEY_ID", logical::TOKEN_KEY),
            ("SWITCHYARD_EVENT_BUS", logical::EVENT_BUS),
            ("SWITCHYARD_OAUTH_STATES_TABLE", logical::STATES_TABLE),
            ("SWITCHYARD_CONNECTIONS_TABLE", logical::CONNECTIONS_TABLE),
            ("SWITCHYARD_AUDIT_TABLE", logical::AUDIT_TABLE),
            (
                "SWITCHYARD_PLATFORM_KEYS_SECRET",
                logical::PLATFORM_KEYS_SECRET,
            ),
            ("SWITCHYARD_TOOL_STATE_TABLE", logical::TOOL_STATE_TABLE),
            ("SWITCHYARD_RECEIPTS_TABLE", logical::RECEIPTS_TABLE),
            ("SWITCHYARD_CURSORS_TABLE", logical::CURSORS_TABLE),
            (
                "SWITCHYARD_OAUTH_LINK_KEY_SECRET",
                logical::OAUTH_LINK_KEY_SECRET,
            ),
            ("SWITCHYARD_WATCHES_TABLE", logical::WATCHES_TABLE),
            ("SWITCHYARD_SYNC_QUEUE_URL", logical::SYNC_QUEUE),
            ("SWITCHYARD_ARTIFACTS_TABLE", logical::ARTIFACTS_TABLE),
            ("SWITCHYARD_ARTIFACTS_BUCKET", logical::ARTIFACTS_BUCKET),
        ];
        let mut seen = 0;
        for function in all.iter().filter(|r| r.kind == "AWS::Serverless::Function") {
            let Some(env) = function
                .properties
                .get("Environment")
                .and_then(|e| e.get("Variables"))
            else {
                continue;
            };
            for (var, id) in pairs {
                if let Some(value) = env.get(var) {
                    assert_eq!(reference(value), Some(id), "{}: {var}", function.logical_id);
                    seen += 1;
                }
            }
        }
        assert!(seen > 50, "only {seen} resource variables");
    }

    #[test]
    fn every_agent_tool_method_has_its_function_and_route() {
        let catalog = switchyard::tools::definitions::Catalog::load().expect("definitions");
        let all = resources(TEMPLATE).expect("template parses");
        // Internal methods (worker calls only) have no function, and no route.
        for method in catalog.methods().filter(|m| !m.integration.exec.internal) {
            let function = all
                .iter()
                .find(|r| {
                    r.properties
                        .get("Environment")
                        .and_then(|e| e.get("Variables"))
                        .and_then(|v| v.get("SWITCHYARD_TOOL"))
                        .and_then(Value::as_str)
                        == Some(method.tool_id.as_str())
                })
                .unwrap_or_else(|| panic!("no function for {}", method.tool_id));
            let path = function
                .properties
                .get("Events")
                .and_then(|e| e.get("Http"))
                .and_then(|h| h.get("Properties"))
                .and_then(|p| p.get("Path"))
                .and_then(Value::as_str);
            let expected = format!("/tools/{}", method.tool_id.replacen('.', "/", 1));
            assert_eq!(path, Some(expected.as_str()), "{}", method.tool_id);
        }
        let internal: Vec<&str> = catalog
            .methods()
            .filter(|m| m.integration.exec.internal)
            .map(|m| m.tool_id.as_str())
            .collect();
        assert!(!internal.is_empty());
        for r in &all {
            let tool = r
                .properties
                .get("Environment")
                .and_then(|e| e.get("Variables"))
                .and_then(|v| v.get("SWITCHYARD_TOOL"))
                .and_then(Value::as_str);
            assert!(
                tool.is_none_or(|t| !internal.contains(&t)),
                "{tool:?} is internal"
            );
        }
    }

    #[test]
    fn bucket_names_are_lowercase() {
        assert_eq!(
            physical_name("sw", "PayloadBucket", "AWS::S3::Bucket"),
            "sw-payloadbucket"
        );
        assert_eq!(
            physical_name("sw", "IngressQueue", "AWS::SQS::Queue"),
            "sw-IngressQueue"
        );
    }
}
