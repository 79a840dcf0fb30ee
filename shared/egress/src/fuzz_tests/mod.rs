//! Property-based fuzz suites of the egress parsers and guards: the Retry-After and rate-limit
//! header parsers and the URL and address guard. Bad input gets the documented answer (`None`,
//! a refusal), never a panic. `make fuzz` multiplies the case counts by
//! `SWITCHYARD_FUZZ_MULTIPLIER`.

mod address_guard;
mod rate_limits;

use switchyard_core::fuzz::{config, json};
