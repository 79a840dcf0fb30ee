//! Error helpers for AWS SDK errors.

pub use switchyard_core::error::chain;

/// Whether an AWS SDK error is a failed condition expression (a lost race, not a fault).
pub fn is_conditional_check_failed<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}
