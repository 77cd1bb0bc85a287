//! Limits on everything (STYLE 10). Scenario loading rejects what is over a limit with a message
//! that names it; the engine relies on these bounds for its fixed-size arrays.

/// Deepest area tree (root at depth 0). Each level adds a market and a fee crossing.
pub const MAX_AREA_DEPTH: usize = 12;
/// Most areas in one expanded scenario.
pub const MAX_AREAS: usize = 2_000_000;
/// Most assets in one expanded scenario.
pub const MAX_ASSETS: usize = 4_000_000;
/// Most copies one `count:` may stand for.
pub const MAX_COUNT: u32 = 1_000_000;
/// Most slots in one run (a year of 5-minute slots).
pub const MAX_SLOTS: u32 = 366 * 24 * 12;
/// Most ticks in one slot.
pub const MAX_TICKS_PER_SLOT: u32 = 3_600;
/// Most rows in one profile file.
pub const MAX_PROFILE_ROWS: usize = 1_000_000;
/// Most orders an ancestor shows to a child market per side and tick (the area agent forwards
/// the best ones down; the rest wait for the next tick).
pub const MAX_FORWARDED_DOWN_PER_TICK: usize = 64;
/// Most points in one bid curve given by a user or an agent (aggregated curves may hold more:
/// the union of their children's points and four per child for the fee's dead band).
pub const MAX_CURVE_POINTS: usize = 1_000;
/// Largest magnitude of a price in a bid curve, and of a fee applied to one, in micro-units per
/// kWh (10⁹ currency units per kWh): keeps every price ± fee far inside `i64`.
pub const CURVE_PRICE_MAX: i64 = 1_000_000_000_000_000;
