//! Switchyard's core types, shared by every other crate and free of AWS and HTTP clients: the
//! clock, secrets, the WorkItem on the ingress queue, trigger policies, HTTP replies, the
//! runtime configuration each function reads from its environment, and logging.

pub mod clock;
pub mod config;
pub mod error;
#[cfg(any(test, feature = "fuzz"))]
pub mod fuzz;
#[cfg(test)]
mod fuzz_tests;
pub mod identity;
pub mod policy;
pub mod reply;
pub mod secret;
pub mod telemetry;
pub mod workitem;
