//! Scenario schema, validation and expansion into the area arena, plus profiles.
pub mod topology;
pub use topology::*;
