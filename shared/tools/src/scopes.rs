//! Least privilege: a method's declared OAuth scopes against what the connection was granted.

use crate::definitions::Method;
use crate::{ErrorCode, ToolError};

/// `Ok` when `granted` holds one of `method`'s scopes (any-of), or the method declares none.
/// Otherwise `insufficient_scope` naming the narrowest scope that would do (definitions list
/// them narrowest first) and the alternatives, so an operator knows what to reconnect with.
pub(crate) fn check(method: &Method, granted: &[String]) -> Result<(), ToolError> {
    let wanted = &method.def.exec.scopes;
    if wanted.is_empty() || wanted.iter().any(|scope| granted.contains(scope)) {
        return Ok(());
    }
    let message = format!(
        "{} needs scope {} (or one of: {}); the connection was not granted it",
        method.tool_id,
        wanted[0],
        wanted[1..].join(", ")
    );
    Err(ToolError::new(ErrorCode::InsufficientScope, message, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::Catalog;

    #[test]
    fn any_declared_scope_is_enough_and_the_narrowest_is_named() {
        let catalog = Catalog::load().expect("definitions");
        let send = catalog.method("gmail.send_message").expect("method");
        let granted = |scopes: &[&str]| scopes.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(check(
            send,
            &granted(&["https://www.googleapis.com/auth/gmail.send"])
        )
        .is_ok());
        assert!(check(send, &granted(&["https://mail.google.com/"])).is_ok());
        let error = check(
            send,
            &granted(&["openid", "https://www.googleapis.com/auth/gmail.readonly"]),
        )
        .expect_err("read-only mail cannot send");
        assert_eq!(error.code, ErrorCode::InsufficientScope);
        assert!(!error.retryable);
        assert!(
            error
                .message
                .contains("needs scope https://www.googleapis.com/auth/gmail.send"),
            "{}",
            error.message
        );
        let notion = catalog.method("notion.create_page").expect("method");
        assert!(
            check(notion, &[]).is_ok(),
            "no scopes declared: nothing to check"
        );
    }
}
