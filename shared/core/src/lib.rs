//! Switchyard's core types, shared by every other crate and free of AWS and HTTP clients: the
//! clock, secrets, the WorkItem on the ingress queue, trigger policies and HTTP replies.

pub mod clock;
#[cfg(test)]
mod fuzz_tests;
pub mod policy;
pub mod reply;
pub mod secret;
pub mod workitem;
