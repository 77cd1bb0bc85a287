//! Asset models and their trading strategies.
//!
//! Each asset becomes an [`AssetAgent`]. Once per slot the engine asks it for a [`Plan`]: up to
//! three order legs, each an energy and a [`Ramp`] of prices over the slot's trading window
//! (sellers fall from an initial to a final rate, buyers rise). The ramp is a pure function of the
//! tick, so the engine prices every order at every tick without calling back into the agent.
//! After trading, the engine tells the agent what it bought and sold and the agent answers with
//! its metered [`Delivery`] (a load consumes its profile whatever it bought; a battery delivers
//! exactly what it traded and updates its state of charge).
//!
//! Agents never see markets or other agents: they exchange plain records with the engine
//! (STYLE 4). Default rates come from the grid connection *as seen from the asset's market*
//! ([`SeenPrices`]): a load's default final rate is what buying from the grid costs it, fees
//! included, so with default settings every load is served and every PV sells by slot end.

mod models;
mod ramp;
mod seen;

pub use models::{AgentError, AssetAgent, Delivery, Leg, Plan, build_agents};
pub use ramp::Ramp;
pub use seen::{SeenPrices, boundaries_between, forward_along, reference_connections, seen_prices};
