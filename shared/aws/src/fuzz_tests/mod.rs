//! Property-based fuzz suite of the PlatformEvent decoder: any bytes are an event or a typed
//! error, never a panic. `make fuzz` multiplies the case counts by `SWITCHYARD_FUZZ_MULTIPLIER`.

mod events;

use switchyard_core::fuzz::{config, json};
