//! The Lambda side of Switchyard: [`lambda`] adapts Lambda's event types to the library crates,
//! and each binary in `src/bin` builds only its own function's context.

pub mod email_status;
pub mod lambda;
pub mod live;
