//! A short human description of a loaded topology (for `nestgrid validate`).

use crate::values::format_duration;
use crate::{AssetKind, Topology};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Areas, assets by kind, mechanisms, slots and ticks, in three lines (each ending in a newline).
pub fn summary(topology: &Topology) -> String {
    let settings = &topology.settings;
    let depth = topology
        .areas
        .iter()
        .map(|area| area.depth)
        .max()
        .unwrap_or(0);
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    let mut sessions = 0;
    for asset in &topology.assets {
        *kinds.entry(asset.kind.name()).or_default() += 1;
        if let AssetKind::EvCharger(charger) = &asset.kind {
            sessions += charger.sessions.len();
        }
    }
    let kinds: Vec<String> = kinds
        .iter()
        .map(|(kind, count)| format!("{count} {kind}"))
        .collect();
    let mut mechanisms: BTreeMap<&str, usize> = BTreeMap::new();
    for area in &topology.areas {
        *mechanisms.entry(area.mechanism.name()).or_default() += 1;
    }
    let mechanisms: Vec<String> = mechanisms
        .iter()
        .map(|(mechanism, count)| format!("{count} {mechanism}"))
        .collect();
    let run_seconds = settings.slot_count as u64 * settings.slot_seconds as u64;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{}: {} areas ({} {} below the root), {} assets ({})",
        settings.name,
        topology.areas.len(),
        depth,
        if depth == 1 { "level" } else { "levels" },
        topology.assets.len(),
        if kinds.is_empty() {
            "none".to_string()
        } else {
            kinds.join(", ")
        }
    );
    let _ = writeln!(
        text,
        "time: {} slots of {} from {} ({}), {} ticks of {} per slot",
        settings.slot_count,
        format_duration(settings.slot_seconds as u64),
        settings.start,
        format_duration(run_seconds),
        settings.ticks_per_slot(),
        format_duration(settings.tick_seconds as u64)
    );
    let _ = writeln!(
        text,
        "markets: {}; {} base profiles; {} charging sessions; seed {}; currency {}",
        mechanisms.join(", "),
        topology.profiles.len(),
        sessions,
        settings.seed,
        settings.currency
    );
    text
}
