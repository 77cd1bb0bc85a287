// Checks of one area's view against the results files, shared by the village and the
// 1,000-house tests.

import assert from "node:assert/strict";
import { assertLine, assertShown, chartScale, pathShape, seriesShape, short, timeLabel } from "./helpers.mjs";

/** Card label (without the currency) → [kpis.json field, decimals, shown as a percentage]. */
export const CARDS = {
  "self-sufficiency": ["self_sufficiency", 1, true],
  "self-consumption": ["self_consumption", 1, true],
  "energy used (kWh)": ["energy_demanded_kwh", 1],
  "energy produced (kWh)": ["energy_produced_kwh", 1],
  "cost (CUR)": ["cost", 2],
  "revenue (CUR)": ["revenue", 2],
  "savings vs grid only (CUR)": ["savings", 2],
  "peak import (kW)": ["peak_import_kw", 2],
  "peak export (kW)": ["peak_export_kw", 2],
  "fees collected (CUR)": ["fees_collected", 2],
};

const BLUE = "#1d4f91", RED = "#d1495b";
const isLegend = r => r.y === 21 && r.height === 10 && r.width === 12;
const num = v => (v === "" || v === undefined ? null : parseFloat(v));

/** The KPI cards of area `name` show its entry in kpis.json, each to the shown precision. */
export function checkCards(v, res, name) {
  const kpi = res.areaKpi(name);
  const cur = res.kpis.currency;
  assert.deepEqual(v.cards.map(c => c.label), Object.keys(CARDS).map(l => l.replace("CUR", cur)), "card labels");
  for (const card of v.cards) {
    const [field, decimals, percent] = CARDS[card.label.replace(cur, "CUR")];
    assertShown(card.value, kpi[field], decimals, `${name}: card ${card.label}`, percent);
  }
}

/** Maps a bills table header ("spent EUR") to its bills.csv column ("spent_eur"). */
export function billColumn(header, res) {
  return header.replace(` ${res.kpis.currency}`, `_${res.cur}`).replace(" kWh", "_kwh").replaceAll(" ", "_");
}

/** The bills table of area `name`: its subtree row, then one row per asset of the area, as in bills.csv. */
export function checkBills(v, res, name) {
  const i = v.headings.indexOf("Bills (whole run)");
  assert.ok(i >= 0, `${name}: no bills heading in ${JSON.stringify(v.headings)}`);
  const [head, ...rows] = v.tables[0];
  const assets = res.ownAssets(name);
  assert.equal(rows.length, 1 + assets.length, `${name}: bills table rows`);
  assert.equal(head.length, 10, `${name}: bills columns`);
  const expect = [["this area (subtree)", res.billOf.get(`area:${name}`)], ...assets.map(s => [`${short(s.name)} (${s.kind})`, res.billOf.get(`asset:${s.name}`)])];
  rows.forEach((row, k) => {
    const [label, bill] = expect[k];
    assert.equal(row[0], label, `${name}: bills row ${k}`);
    assert.ok(bill, `${name}: ${label} has no row in bills.csv`);
    head.slice(1).forEach((h, c) => {
      const col = billColumn(h, res);
      assert.ok(col in bill, `${name}: column ${h} is not in bills.csv`);
      assertShown(row[c + 1], num(bill[col]), col.endsWith("_kwh") ? 3 : 2, `${name}: bill of ${label}, ${h}`);
    });
  });
}

/** The three charts of area `name` and its stored-energy charts, against area_slots.csv and storage.csv. */
export function checkCharts(v, res, name) {
  const slots = res.slotsOf.get(name);
  const n = res.slotCount;
  const step = Math.max(1, Math.ceil(n / 8 / 4) * 4);
  assert.equal(slots.filter(Boolean).length, n, `${name}: area_slots.csv rows`);
  for (const bad of ["NaN", "undefined", "Infinity"]) assert.ok(!v.html.includes(bad), `${name}: the view contains ${bad}`);
  const stores = res.ownAssets(name).filter(s => s.kind === "storage" || s.kind === "ev_charger");
  assert.equal(v.charts.length, 3 + stores.length, `${name}: number of charts`);
  const [prices, energy, net] = v.charts;

  // Clearing prices: one band polygon and one line run per stretch of slots with trades.
  assert.equal(prices.title, "Clearing prices in this area's market");
  const cur = res.cur;
  const mean = slots.map(r => num(r[`price_mean_${cur}_per_kwh`]));
  const band = slots.map(r => (r[`price_min_${cur}_per_kwh`] === "" || r[`price_max_${cur}_per_kwh`] === "" ? null : 1));
  assert.equal(prices.paths.length, 1, `${name}: price lines`);
  assert.deepEqual(pathShape(prices.paths[0]), seriesShape(mean), `${name}: mean price line (points, runs)`);
  assert.equal(prices.polygons, seriesShape(band).runs, `${name}: min–max bands`);
  assertLine(prices, prices.paths[0], mean, step, 0.00005, `${name}: mean price`);

  // Energy: two unbroken lines of one point per slot.
  assert.equal(energy.title, "Energy traded inside vs. across the boundary");
  assert.equal(energy.paths.length, 2, `${name}: energy lines`);
  for (const d of energy.paths) assert.deepEqual(pathShape(d), { points: n, runs: 1 }, `${name}: energy line`);
  assertLine(energy, energy.paths[0], slots.map(r => parseFloat(r.market_energy_kwh)), step, 0.0005, `${name}: this market's trades`);
  assertLine(energy, energy.paths[1], slots.map(r => parseFloat(r.imported_kwh) + parseFloat(r.exported_kwh)), step, 0.001, `${name}: imported + exported`);

  // Net import: a blue bar above zero per net-import slot, a red one below per net-export slot,
  // as high as the net energy (in whole Wh, as embedded) on the chart's own scale.
  assert.equal(net.title, "Net import (+) / export (−) across the boundary");
  const netWh = slots.map(r => Math.round(1000 * parseFloat(r.imported_kwh)) - Math.round(1000 * parseFloat(r.exported_kwh)));
  const bars = net.rects.filter(r => !isLegend(r));
  assert.equal(bars.filter(r => r.fill === BLUE).length, netWh.filter(w => w > 0).length, `${name}: import bars`);
  assert.equal(bars.filter(r => r.fill === RED).length, netWh.filter(w => w < 0).length, `${name}: export bars`);
  assert.equal(bars.length, netWh.filter(w => w !== 0).length, `${name}: bars`);
  const scale = chartScale(net, step);
  let k = 0;
  netWh.forEach((w, slot) => {
    if (w === 0) return;
    const r = bars[k++];
    assert.ok(Math.abs(scale.slot(r.x + r.width / 2) - slot) < 0.01, `${name}: bar ${k} is in slot ${slot}`);
    // Bars of imports rise from the zero line and bars of exports hang from it.
    assert.ok(Math.abs((w > 0 ? r.y + r.height : r.y) - scale.zeroY) < 1e-6, `${name}: bar of slot ${slot} starts at zero`);
    assert.ok(Math.abs(r.height * scale.perPixel - Math.abs(w) / 1000) < 1e-9, `${name}: bar of slot ${slot} is ${r.height * scale.perPixel} high, the results say ${w / 1000}`);
  });

  // Time axis: ticks every 12 slots of 96, the first of a day with its date.
  for (const chart of v.charts) {
    const labels = [];
    let day = "";
    for (let s = 0; s < n; s += step) {
      const d = timeLabel(slots[s].time, true).slice(0, 5);
      labels.push(timeLabel(slots[s].time, d !== day));
      day = d;
    }
    const at = chart.texts.indexOf(labels[0]);
    assert.ok(at >= 0, `${name}: ${chart.title}: no time label ${labels[0]}`);
    assert.deepEqual(chart.texts.slice(at, at + labels.length), labels, `${name}: ${chart.title}: time axis`);
  }

  // Stored energy: one chart per battery or EV charger, gaps where storage.csv has no row.
  stores.forEach((s, k) => {
    const chart = v.charts[3 + k];
    assert.equal(chart.title, `${short(s.name)} (${s.kind})`, `${name}: stored energy chart ${k}`);
    const rows = res.storedOf.get(s.name) || [];
    const values = Array.from({ length: n }, (_, i) => (rows[i] ? parseFloat(rows[i].stored_kwh) : null));
    assert.equal(chart.paths.length, 1);
    assert.deepEqual(pathShape(chart.paths[0]), seriesShape(values), `${name}: ${chart.title} (points, runs)`);
    assertLine(chart, chart.paths[0], values, step, 0.0005, `${name}: ${chart.title}`);
  });
  return stores;
}

/** Heading, full path and breadcrumbs of area `name`. */
export function checkHeading(v, res, name) {
  assert.equal(v.h2, short(name), "heading");
  assert.equal(v.note, name, "full path");
  const parts = name.split("/");
  const ancestors = parts.slice(0, -1).map((_, k) => parts.slice(0, k + 1).join("/"));
  assert.deepEqual(v.crumbs, ancestors.map(a => ({ text: short(a), href: `#area=${res.areaIndex(a)}` })), "breadcrumbs");
}

/** Every check of an area's view. */
export function checkArea(v, res, name) {
  checkHeading(v, res, name);
  checkCards(v, res, name);
  checkBills(v, res, name);
  const stores = checkCharts(v, res, name);
  const kids = res.childAreas(name);
  assert.deepEqual(v.links, kids.map(a => ({ text: short(a.name), href: `#area=${res.areaIndex(a.name)}` })), `${name}: areas below`);
  if (kids.length) assert.ok(v.headings.includes(`Areas below (${kids.length})`), `${name}: areas below heading`);
  return { stores };
}

/** The comparison view: one table row per top-level area, and four bar charts. */
export function checkCompare(v, res) {
  const root = res.kpis.areas[0].name;
  assert.equal(v.h2, `Top-level areas of ${root}`);
  const top = res.childAreas(root);
  const [head, ...rows] = v.tables[0];
  assert.equal(rows.length, top.length, "one row per top-level area");
  const cur = res.kpis.currency;
  const columns = {
    "self-sufficiency": ["self_sufficiency", 1, true], "self-consumption": ["self_consumption", 1, true],
    "used kWh": ["energy_demanded_kwh", 1], "produced kWh": ["energy_produced_kwh", 1],
    [`cost ${cur}`]: ["cost", 2], [`revenue ${cur}`]: ["revenue", 2], [`savings ${cur}`]: ["savings", 2],
    "peak import kW": ["peak_import_kw", 2], "peak export kW": ["peak_export_kw", 2],
  };
  const billColumns = ["spent", "earned", "fees paid", "imbalance", "total"].map(c => `${c} ${cur}`);
  assert.deepEqual(head, ["area", ...Object.keys(columns), ...billColumns], "comparison columns");
  rows.forEach((row, k) => {
    const a = top[k], bill = res.billOf.get(`area:${a.name}`);
    assert.equal(row[0], short(a.name));
    head.forEach((h, c) => {
      if (columns[h]) assertShown(row[c], a[columns[h][0]], columns[h][1], `compare ${a.name} ${h}`, columns[h][2]);
      else if (c > 0) assertShown(row[c], num(bill[billColumn(h, res)]), 2, `compare ${a.name} ${h}`);
    });
  });
  const charts = {
    "Self-sufficiency": a => (a.self_sufficiency === null ? null : 100 * a.self_sufficiency),
    "Savings against grid only": a => a.savings,
    "Total bill of the subtree": a => num(res.billOf.get(`area:${a.name}`)[`total_${res.cur}`]),
    "Peak net import": a => a.peak_import_kw,
  };
  assert.deepEqual(v.charts.map(c => c.title), Object.keys(charts), "comparison charts");
  for (const chart of v.charts) {
    const values = top.map(charts[chart.title]);
    const bars = chart.rects;
    assert.equal(bars.length, values.filter(x => x !== null).length, `${chart.title}: bars`);
    assert.deepEqual(chart.texts.filter(t => top.some(a => short(a.name).slice(0, 20) === t)), top.map(a => short(a.name).slice(0, 20)), `${chart.title}: bar labels`);
    const big = Math.max(...values.map(x => Math.abs(x ?? 0))), wide = Math.max(...bars.map(r => r.width));
    let b = 0;
    values.forEach((x, k) => {
      if (x === null) return;
      const r = bars[b++];
      assert.equal(r.fill, x >= 0 ? BLUE : RED, `${chart.title}: colour of bar ${k}`);
      if (big > 0) assert.ok(Math.abs(r.width / wide - Math.abs(x) / big) < 1e-3, `${chart.title}: length of bar ${k}`);
      else assert.equal(r.width, 0, `${chart.title}: bar ${k} of 0`);
    });
  }
}
