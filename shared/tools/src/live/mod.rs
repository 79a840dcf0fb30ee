//! Live integration events: agents' WebSocket connections and the fan-out that pushes bus
//! events to them.
//!
//! - [`connect`]: `$connect` authenticates the agent and records the connection; `$disconnect`
//!   forgets it.
//! - [`fanout`]: one EventBridge event → the open connections of the agents it is for, through
//!   a [`ConnectionSink`] (API Gateway's management API in Lambda, in-process channels on the
//!   local host); a connection the sink reports gone is pruned.
//! - [`announce`]: `integration.tool_used` after each tool call's receipt.

pub mod announce;
pub mod connect;
pub mod fanout;

pub use connect::{connect, connect_with, disconnect, ConnectError, ConnectRequest};
pub use fanout::{fan_out, BusEvent, ConnectionSink, FanOutError, FanOutReport, PostError};
