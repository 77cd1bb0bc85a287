//! Scenario text → a checked *plan*: one entry per scenario node (not per copy), with templates
//! resolved, fields converted to integer units and base profiles built once in the store.
//!
//! Templates: a node's `use: NAME` copies the top-level fields of `templates.NAME` (which may
//! itself `use` another template); fields written in the node replace the template's whole
//! field (a shallow merge: `pv: {...}` in the node replaces the template's `pv` entirely). A
//! problem in a field that came from a template is reported at the template's path
//! (`templates.house.pv.capacity_kw`), once however often the template is used. A template may
//! not use itself, directly, through a chain, or through a child: the chain is named
//! (`house -> flat -> house`).

use crate::assets::{AssetPlan, plan_asset};
use crate::clock::{Clock, SimulationFields, build_settings};
use crate::error::{Problems, ScenarioError, join_field, join_index};
use crate::profiles::{ProfileKey, ProfileStore};
use crate::values::{Num, check_range};
use crate::{LoadOptions, Settings};
use nestgrid_types::limits::{MAX_AREA_DEPTH, MAX_AREAS, MAX_ASSETS, MAX_COUNT};
use nestgrid_types::{Energy, GridFee, Mechanism, Power, Price};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_norway::Value;
use std::collections::HashMap;
use std::path::Path;

/// Default name of the root area.
pub const DEFAULT_ROOT_NAME: &str = "Grid";

const TOP_FIELDS: &[&str] = &["name", "simulation", "market", "templates", "areas"];
/// Keys that make a node an asset, one per kind.
pub(crate) const KINDS: &[&str] = &[
    "load",
    "pv",
    "storage",
    "ev_charger",
    "generator",
    "grid_connection",
];
const AREA_FIELDS: &[&str] = &["fee", "mechanism", "import_limit_kw", "export_limit_kw"];
const NODE_FIELDS: &[&str] = &[
    "name",
    "count",
    "vary",
    "use",
    "fee",
    "mechanism",
    "import_limit_kw",
    "export_limit_kw",
    "children",
    "external",
    "load",
    "pv",
    "storage",
    "ev_charger",
    "generator",
    "grid_connection",
];

/// The `market:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of `market` fields")]
struct MarketFields {
    mechanism: Option<Mechanism>,
}

/// An area's `fee:`.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with `constant` or `percent`"
)]
struct FeeFields {
    constant: Option<Num>,
    percent: Option<Num>,
}

/// A checked scenario node, standing for `count` copies.
#[derive(Debug)]
pub(crate) struct NodePlan {
    /// Name as written (copies add ` 1`, ` 2`, ...).
    pub name: String,
    /// Number of copies.
    pub count: u32,
    /// Own `vary` in ppm (inherited from the parent when `None`).
    pub vary_ppm: Option<i64>,
    /// Scenario path (for messages).
    pub path: String,
    /// Area or asset.
    pub kind: PlanKind,
}

/// What a node is.
#[derive(Debug)]
pub(crate) enum PlanKind {
    /// An area with children.
    Area(AreaPlan),
    /// An asset.
    Asset(AssetPlan),
}

/// An area's settings and children.
#[derive(Debug, Default)]
pub(crate) struct AreaPlan {
    pub fee: GridFee,
    pub mechanism: Option<Mechanism>,
    pub import_limit: Option<Power>,
    pub export_limit: Option<Power>,
    pub children: Vec<NodePlan>,
}

/// The whole checked scenario, ready to expand.
pub(crate) struct ScenarioPlan {
    pub settings: Settings,
    pub root: AreaPlan,
    pub profiles: Vec<Vec<Energy>>,
    pub area_count: usize,
    pub asset_count: usize,
}

/// Shared state while planning.
pub(crate) struct Context<'a> {
    pub problems: Problems,
    /// `None` when the `simulation:` section is broken: the tree is still checked, but no
    /// profile is built.
    pub clock: Option<Clock>,
    pub latitude: f64,
    pub longitude: f64,
    pub tick_seconds: u32,
    pub base_dir: &'a Path,
    pub store: ProfileStore,
    templates: HashMap<String, Value>,
}

impl Context<'_> {
    /// The base profile for `key`, recording problems at `path`. Without a clock (broken
    /// settings) returns a placeholder: the load fails anyway.
    pub fn profile(&mut self, key: ProfileKey, path: &str, shown: &str) -> Option<u32> {
        let Some(clock) = &self.clock else {
            return Some(0);
        };
        match self
            .store
            .profile(key, clock, (self.latitude, self.longitude), shown)
        {
            Ok(index) => Some(index),
            Err(messages) => {
                for message in messages {
                    self.problems.push(path, message);
                }
                None
            }
        }
    }

    /// Per-slot prices from a file named at `path`.
    pub fn price_file(&mut self, file: &str, path: &str) -> Option<Vec<nestgrid_types::Price>> {
        let clock = self.clock.as_ref()?;
        let resolved = self.base_dir.join(file);
        match self.store.prices(&resolved, file, clock) {
            Ok(prices) => Some(prices),
            Err(messages) => {
                for message in messages {
                    self.problems.push(path, message);
                }
                None
            }
        }
    }

    /// Decodes `value` into `T`, recording a problem at `path` + the inner field path.
    pub fn decode<T: DeserializeOwned>(&mut self, value: &Value, path: &str) -> Option<T> {
        decode(value, path, &mut self.problems)
    }
}

fn decode<T: DeserializeOwned>(value: &Value, path: &str, problems: &mut Problems) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(decoded) => Some(decoded),
        Err(error) => {
            let inner = error.path().to_string();
            let full = if inner == "." {
                path.to_string()
            } else if inner.starts_with('[') {
                format!("{path}{inner}")
            } else {
                join_field(path, &inner)
            };
            problems.push(full, error.into_inner().to_string());
            None
        }
    }
}

fn unknown_field(key: &str, expected: &[&str]) -> String {
    let list: Vec<String> = expected.iter().map(|name| format!("`{name}`")).collect();
    format!("unknown field `{key}`, expected one of {}", list.join(", "))
}

/// A name as written (text, or a number written as text).
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        Err("must not be empty".to_string())
    } else if name.contains('/') {
        Err(format!(
            "`{name}` must not contain `/` (it separates the parts of a path)"
        ))
    } else {
        Ok(())
    }
}

/// One top-level field of a node after templates are merged, with where it was written.
struct Field {
    key: String,
    value: Value,
    /// Path of the mapping the field was written in (the node, or `templates.NAME`).
    origin: String,
}

impl Field {
    fn path(&self) -> String {
        join_field(&self.origin, &self.key)
    }
}

/// A node with its templates merged.
struct Node {
    path: String,
    fields: Vec<Field>,
    /// Templates this node used (its `use` chain), nearest first.
    templates: Vec<String>,
}

impl Node {
    fn get(&self, key: &str) -> Option<&Field> {
        self.fields.iter().find(|field| field.key == key)
    }
}

/// Reads a node's mapping and merges its `use` chain.
fn resolve(value: &Value, path: &str, active: &[String], context: &mut Context) -> Option<Node> {
    let own = mapping_fields(value, path, &mut context.problems)?;
    let mut layers: Vec<Vec<Field>> = Vec::new();
    let mut chain: Vec<String> = Vec::new();
    let mut next = own.iter().position(|field| field.key == "use");
    let mut current = own;
    loop {
        let used = next.map(|index| current.remove(index));
        layers.push(current);
        let Some(used) = used else {
            break;
        };
        let Some(template) = used.value.as_str().map(str::to_string) else {
            context
                .problems
                .push(used.path(), "must be the name of a template");
            return None;
        };
        let mut seen: Vec<&String> = active.iter().chain(chain.iter()).collect();
        if let Some(position) = seen.iter().position(|name| **name == template) {
            seen.push(&template);
            let cycle: Vec<&str> = seen[position..].iter().map(|name| name.as_str()).collect();
            context.problems.push(
                used.path(),
                format!("cycle of `use`: {}", cycle.join(" -> ")),
            );
            return None;
        }
        let Some(template_value) = context.templates.get(&template).cloned() else {
            let mut known: Vec<&String> = context.templates.keys().collect();
            known.sort();
            let known: Vec<String> = known.iter().map(|name| format!("`{name}`")).collect();
            let hint = if known.is_empty() {
                "no templates are defined".to_string()
            } else {
                format!("known: {}", known.join(", "))
            };
            context.problems.push(
                used.path(),
                format!("unknown template `{template}` ({hint})"),
            );
            return None;
        };
        let template_path = join_field("templates", &template);
        current = mapping_fields(&template_value, &template_path, &mut context.problems)?;
        chain.push(template);
        next = current.iter().position(|field| field.key == "use");
    }
    // Nearest layer wins: the node's own fields, then each template along the chain.
    let mut fields: Vec<Field> = Vec::new();
    for layer in layers {
        for field in layer {
            if !fields.iter().any(|existing| existing.key == field.key) {
                fields.push(field);
            }
        }
    }
    Some(Node {
        path: path.to_string(),
        fields,
        templates: chain,
    })
}

fn mapping_fields(value: &Value, path: &str, problems: &mut Problems) -> Option<Vec<Field>> {
    let Value::Mapping(mapping) = value else {
        problems.push(
            path,
            "a node must be a mapping with a `name` and either `children` or one asset kind",
        );
        return None;
    };
    let mut fields = Vec::with_capacity(mapping.len());
    for (key, value) in mapping {
        match key.as_str() {
            Some(key) => fields.push(Field {
                key: key.to_string(),
                value: value.clone(),
                origin: path.to_string(),
            }),
            None => problems.push(path, format!("field names must be text, found {key:?}")),
        }
    }
    Some(fields)
}

/// Plans a list of child nodes written at `path`; `depth` is the depth a child area would have.
fn plan_children(
    value: &Value,
    path: &str,
    depth: usize,
    active: &[String],
    context: &mut Context,
) -> Vec<NodePlan> {
    let Value::Sequence(items) = value else {
        context.problems.push(path, "must be a list of nodes");
        return Vec::new();
    };
    if items.is_empty() {
        let message = if path == "areas" {
            "the scenario needs at least one area or asset"
        } else {
            "an area needs at least one child"
        };
        context.problems.push(path, message);
        return Vec::new();
    }
    let mut plans = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let item_path = join_index(path, index);
        let plan = resolve(item, &item_path, active, context)
            .and_then(|node| plan_node(node, depth, active, context));
        plans.extend(plan);
    }
    check_sibling_names(&plans, &mut context.problems);
    plans
}

/// The name of copy `copy` (1-based) of a node with `count` copies.
pub(crate) fn copy_name(name: &str, count: u32, copy: u32) -> String {
    if count == 1 {
        name.to_string()
    } else {
        format!("{name} {copy}")
    }
}

/// Siblings' expanded names must differ. Copies are named `"{name} {i}"`, so two expanded
/// names `"a i"` and `"b j"` are equal only when `a == b`: checking single names against each
/// other and against the copy ranges is enough, without listing every copy.
fn check_sibling_names(plans: &[NodePlan], problems: &mut Problems) {
    let mut singles: HashMap<&str, &NodePlan> = HashMap::new();
    let mut ranges: HashMap<&str, &NodePlan> = HashMap::new();
    for plan in plans {
        if plan.count == 1 {
            if let Some(other) = singles.get(plan.name.as_str()) {
                report_duplicate(&plan.name, plan, other, problems);
            } else if let Some(other) = split_copy_name(&plan.name)
                .and_then(|(base, copy)| ranges.get(base).filter(|other| copy <= other.count))
            {
                report_duplicate(&plan.name, plan, other, problems);
            } else {
                singles.insert(&plan.name, plan);
            }
        } else if let Some(other) = ranges.get(plan.name.as_str()) {
            report_duplicate(&copy_name(&plan.name, plan.count, 1), plan, other, problems);
        } else {
            let clash = singles.iter().find(|(name, _)| {
                split_copy_name(name)
                    .is_some_and(|(base, copy)| base == plan.name && copy <= plan.count)
            });
            if let Some((name, other)) = clash {
                report_duplicate(name, plan, other, problems);
            } else {
                ranges.insert(&plan.name, plan);
            }
        }
    }
}

/// `"House 12"` → `("House", 12)` when the suffix is a copy number as [`copy_name`] writes it.
fn split_copy_name(name: &str) -> Option<(&str, u32)> {
    let (base, number) = name.rsplit_once(' ')?;
    if number.is_empty()
        || number.starts_with('0')
        || !number.bytes().all(|byte| byte.is_ascii_digit())
    {
        return None;
    }
    Some((base, number.parse().ok()?))
}

/// Reported at the later node (`plan`), naming the earlier one.
fn report_duplicate(name: &str, plan: &NodePlan, other: &NodePlan, problems: &mut Problems) {
    let other = if other.count == 1 {
        other.path.clone()
    } else {
        format!("{} (count {})", other.path, other.count)
    };
    problems.push(
        &plan.path,
        format!("duplicate name `{name}`: also used by {other} among the same siblings"),
    );
}

fn plan_node(
    node: Node,
    depth: usize,
    active: &[String],
    context: &mut Context,
) -> Option<NodePlan> {
    for field in &node.fields {
        if !NODE_FIELDS.contains(&field.key.as_str()) {
            context
                .problems
                .push(field.path(), unknown_field(&field.key, NODE_FIELDS));
        }
    }
    let name = match node.get("name") {
        None => {
            context
                .problems
                .push(join_field(&node.path, "name"), "is required");
            None
        }
        Some(field) => match scalar_text(&field.value) {
            None => {
                context.problems.push(field.path(), "must be text");
                None
            }
            Some(name) => match check_name(&name) {
                Ok(()) => Some(name),
                Err(message) => {
                    context.problems.push(field.path(), message);
                    None
                }
            },
        },
    };
    let count = match node.get("count") {
        None => 1,
        Some(field) => match context.decode::<u32>(&field.value, &field.path()) {
            Some(count) if (1..=MAX_COUNT).contains(&count) => count,
            Some(_) => {
                context.problems.push(
                    field.path(),
                    format!("must be between 1 and {MAX_COUNT} (MAX_COUNT)"),
                );
                1
            }
            None => 1,
        },
    };
    let vary_ppm = node.get("vary").and_then(|field| {
        let value: Num = context.decode(&field.value, &field.path())?;
        match value
            .fixed(1_000_000)
            .and_then(|ppm| check_range(ppm, 0, 1_000_000, 1_000_000))
        {
            Ok(ppm) => Some(ppm),
            Err(message) => {
                context.problems.push(field.path(), message);
                None
            }
        }
    });
    let kinds: Vec<&Field> = node
        .fields
        .iter()
        .filter(|field| KINDS.contains(&field.key.as_str()))
        .collect();
    let children = node.get("children");
    let kind_list = |kinds: &[&Field]| {
        kinds
            .iter()
            .map(|field| format!("`{}`", field.key))
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let kind = match (children, kinds.as_slice()) {
        (Some(_), []) => {
            if depth > MAX_AREA_DEPTH {
                context.problems.push(
                    &node.path,
                    format!(
                        "area depth {depth} exceeds the limit of {MAX_AREA_DEPTH} (MAX_AREA_DEPTH)"
                    ),
                );
                return None;
            }
            if let Some(field) = node.get("external") {
                context.problems.push(
                    field.path(),
                    "only assets can be `external` (traded through the live exchange's API)",
                );
            }
            PlanKind::Area(plan_area(&node, depth, active, context))
        }
        (Some(_), kinds) => {
            context.problems.push(
                &node.path,
                format!(
                    "a node is an area (`children`) or an asset (one kind), not both: found `children` and {}",
                    kind_list(kinds)
                ),
            );
            return None;
        }
        (None, []) => {
            context.problems.push(
                &node.path,
                "needs `children` (an area) or one of `load`, `pv`, `storage`, `ev_charger`, \
                 `generator`, `grid_connection` (an asset)",
            );
            return None;
        }
        (None, [kind]) => {
            for field in &node.fields {
                if AREA_FIELDS.contains(&field.key.as_str()) {
                    context.problems.push(
                        field.path(),
                        format!(
                            "only areas have `{}`; this node is an asset (`{}`)",
                            field.key, kind.key
                        ),
                    );
                }
            }
            let external = match node.get("external") {
                None => false,
                Some(field) => {
                    let external = context
                        .decode::<bool>(&field.value, &field.path())
                        .unwrap_or(false);
                    if external && kind.key == "grid_connection" {
                        context.problems.push(
                            field.path(),
                            "a grid connection trades at its tariff and cannot be external",
                        );
                    }
                    external
                }
            };
            let mut plan = plan_asset(&kind.key, &kind.value, &kind.path(), context)?;
            plan.external = external;
            PlanKind::Asset(plan)
        }
        (None, kinds) => {
            context.problems.push(
                &node.path,
                format!("an asset has exactly one kind, found {}", kind_list(kinds)),
            );
            return None;
        }
    };
    Some(NodePlan {
        name: name?,
        count,
        vary_ppm,
        path: node.path,
        kind,
    })
}

/// Below a `curve` area every area clears by curves too (the region clears as one), and the
/// fees inside the region are constant (curves are shifted by a constant fee).
fn check_curve_regions(children: &[NodePlan], parent: Mechanism, problems: &mut Problems) {
    for node in children {
        let PlanKind::Area(plan) = &node.kind else {
            continue;
        };
        let mechanism = plan.mechanism.unwrap_or(parent);
        if parent == Mechanism::Curve {
            if mechanism != Mechanism::Curve {
                problems.push(
                    join_field(&node.path, "mechanism"),
                    format!(
                        "`{}` below a `curve` area: every area below a `curve` area clears by \
                         curves with it (remove `mechanism` here, or move this area out of the \
                         curve region)",
                        mechanism.name()
                    ),
                );
            }
            if matches!(plan.fee, GridFee::PartsPerMillion(_)) {
                problems.push(
                    join_field(&node.path, "fee"),
                    "a percentage fee inside a `curve` region: bid curves are shifted by a \
                     constant fee; use `constant`",
                );
            }
        }
        check_curve_regions(&plan.children, mechanism, problems);
    }
}

fn plan_area(node: &Node, depth: usize, active: &[String], context: &mut Context) -> AreaPlan {
    let mut plan = AreaPlan::default();
    if let Some(field) = node.get("fee") {
        plan.fee = read_fee(&field.value, &field.path(), context);
    }
    if let Some(field) = node.get("mechanism") {
        plan.mechanism = context.decode(&field.value, &field.path());
    }
    plan.import_limit = node
        .get("import_limit_kw")
        .and_then(|field| read_positive_power(&field.value, &field.path(), context));
    plan.export_limit = node
        .get("export_limit_kw")
        .and_then(|field| read_positive_power(&field.value, &field.path(), context));
    if let Some(field) = node.get("children") {
        let mut active: Vec<String> = active.to_vec();
        active.extend(node.templates.iter().cloned());
        plan.children = plan_children(&field.value, &field.path(), depth + 1, &active, context);
    }
    plan
}

/// A `*_kw` value that must be greater than zero.
pub(crate) fn read_positive_power(
    value: &Value,
    path: &str,
    context: &mut Context,
) -> Option<Power> {
    let number: Num = context.decode(value, path)?;
    match number.fixed(Power::SCALE) {
        Ok(milliwatts) if milliwatts > 0 => Some(Power(milliwatts)),
        Ok(_) => {
            context.problems.push(path, "must be greater than 0");
            None
        }
        Err(message) => {
            context.problems.push(path, message);
            None
        }
    }
}

fn read_fee(value: &Value, path: &str, context: &mut Context) -> GridFee {
    let Some(fields) = context.decode::<FeeFields>(value, path) else {
        return GridFee::None;
    };
    match (fields.constant, fields.percent) {
        (Some(constant), None) => {
            let field = join_field(path, "constant");
            match constant.fixed(Price::SCALE) {
                Ok(micro) if micro >= 0 => GridFee::Constant(Price(micro)),
                Ok(_) => {
                    context.problems.push(field, "must not be negative");
                    GridFee::None
                }
                Err(message) => {
                    context.problems.push(field, message);
                    GridFee::None
                }
            }
        }
        (None, Some(percent)) => {
            // 1 % = 10,000 ppm: parse the percentage with four decimals.
            match percent
                .fixed(10_000)
                .and_then(|ppm| check_range(ppm, 0, 1_000_000, 10_000))
            {
                Ok(ppm) => GridFee::PartsPerMillion(ppm),
                Err(message) => {
                    context.problems.push(join_field(path, "percent"), message);
                    GridFee::None
                }
            }
        }
        _ => {
            context
                .problems
                .push(path, "give exactly one of `constant` or `percent`");
            GridFee::None
        }
    }
}

/// Counts the areas and assets a list of plans expands to (saturating).
fn expanded_counts(plans: &[NodePlan]) -> (u128, u128) {
    let mut areas: u128 = 0;
    let mut assets: u128 = 0;
    for plan in plans {
        let (own_areas, own_assets) = match &plan.kind {
            PlanKind::Area(area) => {
                let (child_areas, child_assets) = expanded_counts(&area.children);
                (1 + child_areas, child_assets)
            }
            PlanKind::Asset(_) => (0, 1),
        };
        areas = areas.saturating_add(own_areas.saturating_mul(plan.count as u128));
        assets = assets.saturating_add(own_assets.saturating_mul(plan.count as u128));
    }
    (areas, assets)
}

/// Reads and checks a scenario. `source` names it in syntax errors (the file, or `scenario`).
pub(crate) fn plan_scenario(
    text: &str,
    source: &str,
    base_dir: &Path,
    options: &LoadOptions,
) -> Result<ScenarioPlan, ScenarioError> {
    let mut document: Value = serde_norway::from_str(text)
        .map_err(|error| ScenarioError::single(source, error.to_string()))?;
    document
        .apply_merge()
        .map_err(|error| ScenarioError::single(source, error.to_string()))?;
    let top = match document {
        Value::Mapping(top) => top,
        Value::Null => return Err(ScenarioError::single(source, "the scenario is empty")),
        _ => {
            return Err(ScenarioError::single(
                source,
                "the scenario must be a mapping with `areas:` (and optionally `name:`, `simulation:`, `market:`, `templates:`)",
            ));
        }
    };
    let mut problems = Problems::default();
    for key in top.keys() {
        match key.as_str() {
            Some(key) if TOP_FIELDS.contains(&key) => {}
            Some(key) => problems.push(key, unknown_field(key, TOP_FIELDS)),
            None => problems.push(source, format!("field names must be text, found {key:?}")),
        }
    }
    let present = |key: &str| top.get(key).filter(|value| !value.is_null());

    let name = match present("name") {
        None => DEFAULT_ROOT_NAME.to_string(),
        Some(value) => match scalar_text(value).map(|name| (check_name(&name), name)) {
            Some((Ok(()), name)) => name,
            Some((Err(message), name)) => {
                problems.push("name", message);
                name
            }
            None => {
                problems.push("name", "must be text");
                DEFAULT_ROOT_NAME.to_string()
            }
        },
    };
    let simulation = match present("simulation") {
        None => Some(SimulationFields::default()),
        Some(value) => decode::<SimulationFields>(value, "simulation", &mut problems),
    };
    let market = match present("market") {
        None => MarketFields::default(),
        Some(value) => decode::<MarketFields>(value, "market", &mut problems).unwrap_or_default(),
    };
    let built =
        simulation.and_then(|fields| build_settings(&fields, &name, options, &mut problems));

    let mut templates = HashMap::new();
    match present("templates") {
        None => {}
        Some(Value::Mapping(mapping)) => {
            for (key, value) in mapping {
                match key.as_str() {
                    Some(key) => {
                        templates.insert(key.to_string(), value.clone());
                    }
                    None => problems.push(
                        "templates",
                        format!("template names must be text, found {key:?}"),
                    ),
                }
            }
        }
        Some(_) => problems.push(
            "templates",
            "must be a mapping from template names to nodes",
        ),
    }

    let (settings, clock) = match built {
        Some((settings, clock)) => (Some(settings), Some(clock)),
        None => (None, None),
    };
    let mut context = Context {
        problems,
        clock,
        latitude: settings.as_ref().map_or(0.0, |settings| settings.latitude),
        longitude: settings.as_ref().map_or(0.0, |settings| settings.longitude),
        tick_seconds: settings
            .as_ref()
            .map_or(15, |settings| settings.tick_seconds),
        base_dir,
        store: ProfileStore::default(),
        templates,
    };
    let children = match present("areas") {
        None => {
            context
                .problems
                .push("areas", "the scenario needs at least one area or asset");
            Vec::new()
        }
        Some(value) => plan_children(value, "areas", 1, &[], &mut context),
    };
    let root = AreaPlan {
        fee: GridFee::None,
        mechanism: Some(market.mechanism.unwrap_or_default()),
        import_limit: None,
        export_limit: None,
        children,
    };
    check_curve_regions(
        &root.children,
        root.mechanism.unwrap_or_default(),
        &mut context.problems,
    );
    let (child_areas, assets) = expanded_counts(&root.children);
    let areas = child_areas.saturating_add(1);
    if areas > MAX_AREAS as u128 {
        context.problems.push(
            "areas",
            format!("the scenario expands to {areas} areas, more than the limit of {MAX_AREAS} (MAX_AREAS)"),
        );
    }
    if assets > MAX_ASSETS as u128 {
        context.problems.push(
            "areas",
            format!("the scenario expands to {assets} assets, more than the limit of {MAX_ASSETS} (MAX_ASSETS)"),
        );
    }
    let Context {
        problems, store, ..
    } = context;
    problems.into_result()?;
    let settings = settings.expect("settings exist when there is no problem");
    Ok(ScenarioPlan {
        settings,
        root,
        profiles: store.into_profiles(),
        area_count: areas as usize,
        asset_count: assets as usize,
    })
}
