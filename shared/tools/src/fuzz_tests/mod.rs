//! Property-based fuzz suite of tool-input validation: any input is accepted or refused with a
//! typed error, never a panic. `make fuzz` multiplies the case counts by
//! `SWITCHYARD_FUZZ_MULTIPLIER`.

mod tool_input;

use switchyard_core::fuzz::{config, json};
