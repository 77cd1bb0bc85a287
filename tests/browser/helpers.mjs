// Shared helpers of the browser tests of report.html (docs/report.md, "Browser tests"): run the
// nestgrid binary into a temporary folder, read its results files, and open the report in
// headless Chromium through playwright-core.

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

export const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(HERE, "..", "..");

/** The nestgrid binary: $NESTGRID_BIN, else the release build in $CARGO_TARGET_DIR or target/. */
export function nestgridBin() {
  if (process.env.NESTGRID_BIN) return resolve(process.env.NESTGRID_BIN);
  const target = process.env.CARGO_TARGET_DIR ? resolve(REPO, process.env.CARGO_TARGET_DIR) : join(REPO, "target");
  return join(target, "release", "nestgrid");
}

/** The Chromium executable: $NESTGRID_CHROMIUM, else `chromium` (Debian's package) on PATH. */
export function chromiumPath() {
  if (process.env.NESTGRID_CHROMIUM) return process.env.NESTGRID_CHROMIUM;
  for (const dir of (process.env.PATH || "").split(delimiter)) {
    for (const name of ["chromium", "chromium-browser"]) {
      const path = join(dir, name);
      if (dir && existsSync(path)) return path;
    }
  }
  throw new Error("no chromium on PATH; run scripts/install-browser-test-deps or set NESTGRID_CHROMIUM");
}

/** Runs `nestgrid run [scenario] --out DIR --quiet --no-trades` in a new temporary folder. */
export function simulate(scenario) {
  const bin = nestgridBin();
  assert.ok(existsSync(bin), `${bin} does not exist: build it with cargo build --release or set NESTGRID_BIN`);
  const dir = mkdtempSync(join(tmpdir(), "nestgrid-browser-"));
  const args = ["run", ...(scenario ? [scenario] : []), "--out", dir, "--quiet", "--no-trades"];
  execFileSync(bin, args, { stdio: ["ignore", "ignore", "inherit"] });
  return { dir, results: readResults(dir), url: pathToFileURL(join(dir, "report.html")).href, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Parses CSV text (with optional double-quoted fields) into objects keyed by the header. */
export function parseCsv(text) {
  const rows = [];
  let row = [], field = "", quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") { row.push(field); field = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field); rows.push(row); row = []; field = "";
    } else field += c;
  }
  if (field !== "" || row.length) { row.push(field); rows.push(row); }
  const [head, ...body] = rows;
  return body.filter(r => r.length > 1 || r[0] !== "").map(r => Object.fromEntries(head.map((h, k) => [h, r[k]])));
}

/** The results files the report is made from, read independently of the report. */
export function readResults(dir) {
  const kpis = JSON.parse(readFileSync(join(dir, "kpis.json"), "utf8"));
  const cur = kpis.currency.toLowerCase();
  const slots = parseCsv(readFileSync(join(dir, "area_slots.csv"), "utf8"));
  const storage = parseCsv(readFileSync(join(dir, "storage.csv"), "utf8"));
  const bills = parseCsv(readFileSync(join(dir, "bills.csv"), "utf8"));
  const slotsOf = new Map(), storedOf = new Map();
  for (const r of slots) {
    if (!slotsOf.has(r.area)) slotsOf.set(r.area, []);
    slotsOf.get(r.area)[+r.slot] = r;
  }
  for (const r of storage) {
    if (!storedOf.has(r.asset)) storedOf.set(r.asset, []);
    storedOf.get(r.asset)[+r.slot] = r;
  }
  const billOf = new Map(bills.map(r => [`${r.kind}:${r.name}`, r]));
  const areaNames = kpis.areas.map(a => a.name);
  const parentOf = name => name.slice(0, name.lastIndexOf("/"));
  return {
    kpis, cur, slotsOf, storedOf, billOf, areaNames,
    slotCount: kpis.slots,
    areaIndex: name => { const i = areaNames.indexOf(name); assert.ok(i >= 0, `no area ${name}`); return i; },
    childAreas: name => kpis.areas.filter(a => a.name.includes("/") && parentOf(a.name) === name),
    ownAssets: name => kpis.assets.filter(s => parentOf(s.name) === name),
    areaKpi: name => kpis.areas.find(a => a.name === name),
  };
}

export const short = name => name.slice(name.lastIndexOf("/") + 1);

/** Starts headless Chromium. */
export function launch() {
  return chromium.launch({
    executablePath: chromiumPath(),
    args: ["--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic"],
  });
}

/**
 * Opens `url` in a new page and records every console message of type error or warning, every
 * uncaught exception and every request that is not the report file itself.
 */
export async function open(browser, url, { viewport = { width: 1400, height: 1000 } } = {}) {
  const page = await browser.newPage({ viewport });
  const problems = [];
  const file = url.split("#")[0];
  page.on("console", m => { if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`); });
  page.on("pageerror", e => problems.push(`page error: ${e.message}`));
  page.on("request", r => { if (r.url().split("#")[0] !== file) problems.push(`request: ${r.url()}`); });
  page.on("requestfailed", r => problems.push(`failed request: ${r.url()}`));
  const started = performance.now();
  await page.goto(url, { waitUntil: "load" });
  const loadMs = performance.now() - started;
  return { page, problems, loadMs };
}

/** Asserts that the page logged no error or warning, threw nothing and loaded nothing else. */
export function assertClean(problems) {
  assert.deepEqual(problems, [], "the page should log no errors, throw nothing and request nothing");
}

/** What the main view shows: heading, path, crumbs, cards, tables, charts (parsed from the SVG). */
export function view(page) {
  return page.evaluate(() => {
    const v = document.getElementById("view");
    const table = t => [...t.rows].map(r => [...r.cells].map(c => c.textContent.trim()));
    return {
      html: v.innerHTML,
      h2: v.querySelector("h2")?.textContent ?? null,
      note: v.querySelector(".note")?.textContent ?? null,
      crumbs: [...v.querySelectorAll(".crumbs a")].map(a => ({ text: a.textContent, href: a.getAttribute("href") })),
      cards: [...v.querySelectorAll(".card")].map(c => ({ label: c.querySelector("span").textContent, value: c.querySelector("b").textContent })),
      headings: [...v.querySelectorAll("h3")].map(h => h.textContent),
      tables: [...v.querySelectorAll("table")].map(table),
      links: [...v.querySelectorAll(".links a")].map(a => ({ text: a.textContent, href: a.getAttribute("href") })),
      charts: [...v.querySelectorAll("svg")].map(s => ({
        title: s.querySelector("title")?.textContent ?? null,
        width: +s.getAttribute("width"),
        paths: [...s.querySelectorAll("path")].map(p => p.getAttribute("d")),
        polygons: s.querySelectorAll("polygon").length,
        rects: [...s.querySelectorAll("rect")].map(r => ({ x: +r.getAttribute("x"), y: +r.getAttribute("y"), width: +r.getAttribute("width"), height: +r.getAttribute("height"), fill: r.getAttribute("fill") })),
        texts: [...s.querySelectorAll("text")].map(t => t.textContent),
        // Horizontal grid lines with their value labels, and the ticks of the time axis.
        grid: [...s.querySelectorAll('line[stroke="#e6e8eb"]')].map(l => ({ x1: +l.getAttribute("x1"), x2: +l.getAttribute("x2"), y1: +l.getAttribute("y1"), y2: +l.getAttribute("y2") })),
        gridLabels: [...s.querySelectorAll('text[text-anchor="end"]')].map(t => t.textContent),
        timeTicks: [...s.querySelectorAll('line[stroke="#333"]')].filter(l => +l.getAttribute("y2") - +l.getAttribute("y1") === 4).map(l => +l.getAttribute("x1")),
      })),
    };
  });
}

/** The entries of the tree: [{text, href, toggle: "▸" | "▾" | "" , selected}]. */
export function tree(page) {
  return page.$$eval("#tree li", lis => lis.map(li => {
    const a = li.querySelector(":scope > a"), b = li.querySelector(":scope > button");
    return { text: a.textContent, href: a.getAttribute("href"), toggle: b ? b.textContent : "", selected: a.classList.contains("sel") };
  }));
}

/** Number of points and of separate runs (gaps split a line) in an SVG path. */
export function pathShape(d) {
  return { points: (d.match(/[ML]/g) || []).length, runs: (d.match(/M/g) || []).length };
}

/** Number of points and of runs of non-null values in a series. */
export function seriesShape(values) {
  let points = 0, runs = 0;
  values.forEach((v, i) => { if (v !== null) { points++; if (i === 0 || values[i - 1] === null) runs++; } });
  return { points, runs };
}

/** Parses a number as the report shows it ("12.3", "-0.45", "95.2 %"); null for "–". */
export function shown(text) {
  if (text === "–") return null;
  assert.match(text, /^-?\d+(\.\d+)?( %)?$/, `not a number as the report shows one: ${JSON.stringify(text)}`);
  return parseFloat(text);
}

/** Asserts that `text` is `value` rounded to `decimals` (a fraction shown as a percentage if `percent`). */
export function assertShown(text, value, decimals, what, percent = false) {
  if (value === null || value === undefined) {
    assert.equal(text, "–", `${what}: no value, so the report should show –`);
    return;
  }
  const expected = percent ? 100 * value : value;
  const got = shown(text);
  assert.notEqual(got, null, `${what}: shows – but the value is ${value}`);
  const decimalsShown = (text.replace(" %", "").split(".")[1] || "").length;
  assert.equal(decimalsShown, decimals, `${what}: ${text} should have ${decimals} decimals`);
  // Half a unit of the last shown digit, plus the six-decimal rounding of the embedded KPIs.
  const tolerance = 0.5 * 10 ** -decimals + (percent ? 1e-4 : 1e-6);
  assert.ok(Math.abs(got - expected) <= tolerance, `${what}: shows ${text}, the results say ${expected}`);
}

/** The time label of a slot as the report's axis shows it, from area_slots.csv's `time`. */
export function timeLabel(iso, withDay) {
  const m = /^\d{4}-(\d\d-\d\d)T(\d\d:\d\d)/.exec(iso);
  assert.ok(m, `unexpected time ${iso}`);
  return withDay ? `${m[1]} ${m[2]}` : m[2];
}

/**
 * The value scale of a chart of per-slot values, read from the chart itself: the value of a y
 * coordinate (from two labelled grid lines), the slot of an x coordinate (from the first two
 * time ticks, `step` slots apart) and the value of one pixel.
 */
export function chartScale(chart, step) {
  assert.ok(chart.grid.length >= 2 && chart.gridLabels.length === chart.grid.length, `${chart.title}: grid lines and their labels`);
  const [a, b] = [chart.grid[0], chart.grid[chart.grid.length - 1]];
  const [va, vb] = [parseFloat(chart.gridLabels[0]), parseFloat(chart.gridLabels[chart.gridLabels.length - 1])];
  assert.ok(b.y1 < a.y1 && vb > va, `${chart.title}: grid lines go up with their values`);
  const perPixel = (vb - va) / (a.y1 - b.y1);
  assert.ok(chart.timeTicks.length >= 2, `${chart.title}: time ticks`);
  const slotWidth = (chart.timeTicks[1] - chart.timeTicks[0]) / step;
  return {
    value: y => va + (a.y1 - y) * perPixel,
    slot: x => (x - chart.timeTicks[0]) / slotWidth,
    perPixel,
    zeroY: (a.y1 - (0 - va) / perPixel),
  };
}

/** The points of an SVG line path as [{slot, value}] on the chart's own scale. */
export function decodePath(chart, d, step) {
  const scale = chartScale(chart, step);
  return [...d.matchAll(/[ML](-?[\d.]+) (-?[\d.]+)/g)].map(m => ({ slot: scale.slot(+m[1]), value: scale.value(+m[2]), scale }));
}

/**
 * Asserts that the line `d` of `chart` draws `expected` (one value or null per slot): a point at
 * the centre of every slot with a value, at that value within `tolerance` plus the 0.1 px to
 * which the path's coordinates are rounded.
 */
export function assertLine(chart, d, expected, step, tolerance, what) {
  const points = decodePath(chart, d, step);
  const slots = expected.flatMap((v, i) => (v === null ? [] : [i]));
  assert.equal(points.length, slots.length, `${what}: points`);
  points.forEach((p, k) => {
    assert.ok(Math.abs(p.slot - slots[k]) < 0.01, `${what}: point ${k} is at slot ${p.slot}, expected ${slots[k]}`);
    const tol = tolerance + 0.051 * p.scale.perPixel;
    const v = expected[slots[k]];
    assert.ok(Math.abs(p.value - v) <= tol, `${what}: slot ${slots[k]} is drawn at ${p.value}, the results say ${v}`);
  });
}

/**
 * Clicks `selector` and waits until the view's heading is `heading`: a link to another view
 * changes the address, and the page redraws on the `hashchange` event, after the click.
 */
export async function clickTo(page, selector, heading) {
  await page.click(selector);
  await waitForHeading(page, heading);
}

/** Waits until the view's heading is `heading`. */
export function waitForHeading(page, heading) {
  return page.waitForFunction(h => document.querySelector("#view h2")?.textContent === h, heading);
}
