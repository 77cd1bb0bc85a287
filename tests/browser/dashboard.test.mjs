// The live dashboard of `nestgrid serve` (the page at `/`) in headless Chromium, against a real
// exchange at speed 300 (a 15-minute slot every 3 s): the clock advances, the selected area's
// clearing prices are those of GET /v1/market as slots pass, the order book chart draws the book
// the page fetched, the page polls and reconnects when the event stream drops, and a scenario
// with 120 top-level areas stays usable (search, limits, islanding, the finished state). A limit
// that an area's trades reach is marked in the tree and in the area's flows, as GET /v1/market and
// the area's history report it, and a reload keeps the price chart's closed slots. Signed
// in with the auditor's key file, the page signs its requests in the browser (WebCrypto Ed25519)
// and lists the transactions a signed GET /v1/transactions returns; a key the exchange does not
// know gets the server's problem instead of data.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO, launch, nestgridBin } from "./helpers.mjs";

const STREET = "Exchange/Street";
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
const children = new Set();
process.on("exit", () => { for (const child of children) child.kill("SIGKILL"); });

/** A TCP port nobody listens on right now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `nestgrid serve [scenario] --speed 300` with a new data folder on a free port and waits
 * until GET /v1/clock answers. `stop()` ends the process and removes the folder.
 */
async function serve(scenarioText) {
  const bin = nestgridBin();
  assert.ok(existsSync(bin), `${bin} does not exist: build it with cargo build --release or set NESTGRID_BIN`);
  const dir = mkdtempSync(join(tmpdir(), "nestgrid-dashboard-"));
  const args = ["serve"];
  if (scenarioText) {
    writeFileSync(join(dir, "scenario.yaml"), scenarioText);
    args.push(join(dir, "scenario.yaml"));
  }
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const data = join(dir, "exchange");
  args.push("--speed", "300", "--data", data, "--listen", `127.0.0.1:${port}`);
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  let output = "", gone = false;
  child.stdout.on("data", d => { output += d; });
  child.stderr.on("data", d => { output += d; });
  const exited = new Promise(resolve => child.on("exit", () => { gone = true; children.delete(child); resolve(); }));
  const stop = async () => {
    if (!gone) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (gone) { await stop(); throw new Error(`nestgrid serve exited:\n${output}`); }
    try { if ((await fetch(`${url}/v1/clock`)).ok) break; } catch { /* not listening yet */ }
    if (Date.now() > deadline) { await stop(); throw new Error(`nestgrid serve did not answer within 30 s:\n${output}`); }
    await sleep(100);
  }
  const api = async path => {
    const response = await fetch(url + path);
    assert.ok(response.ok, `GET ${path}: ${response.status}`);
    return response.json();
  };
  return { url, data, stop, api };
}

/** Routes of the public API the dashboard may use (besides the page itself and the stream). */
const ALLOWED = [/^\/$/, /^\/v1\/clock$/, /^\/v1\/areas$/, /^\/v1\/market$/, /^\/v1\/market\/\d+\/(book|history)$/, /^\/v1\/grid$/];

/** Routes the dashboard may use besides those once signed in with a key. */
const SIGNED = [...ALLOWED, /^\/v1\/participants\/me$/, /^\/v1\/transactions$/];

/**
 * Opens the dashboard and records console errors and warnings, uncaught exceptions, failed
 * requests and every request that is not one of the `allowed` routes of the same server
 * (the public ones unless told). `init` runs in the page before its own script.
 */
async function openDashboard(browser, server, hash = "", { allowed = ALLOWED, init } = {}) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  if (init) await page.addInitScript(init);
  const problems = [];
  const host = new URL(server.url).host;
  page.on("console", m => { if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`); });
  page.on("pageerror", e => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", r => problems.push(`failed request: ${r.url()} (${r.failure()?.errorText})`));
  page.on("request", r => {
    const u = new URL(r.url());
    if (u.host !== host || !allowed.some(re => re.test(u.pathname))) problems.push(`request: ${r.url()}`);
  });
  page.on("websocket", ws => {
    const u = new URL(ws.url());
    if (u.host !== host || u.pathname !== "/v1/stream") problems.push(`websocket: ${ws.url()}`);
  });
  await page.goto(`${server.url}/${hash}`, { waitUntil: "load" });
  await page.waitForSelector('[data-testid="area-row"]');
  return { page, problems };
}

const assertClean = problems => assert.deepEqual(problems, [], "the page should log no errors, throw nothing and use nothing but the public API");
const byId = id => `[data-testid="${id}"]`;
const rowOf = path => `${byId("area-row")}[data-area-path="${path}"]`;

/** Polls `probe` every 100 ms until it returns a value other than undefined/false. */
async function until(probe, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false && value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** The open slot the header shows, or null between slots. */
async function clockSlot(page) {
  const text = (await page.textContent(byId("clock-slot"))).trim();
  return /^\d+$/.test(text) ? Number(text) : null;
}

/** What the page shows of the selected area's last closed slot (values as the API's strings). */
function closedView(page, path) {
  return page.evaluate(([path, rowSel]) => {
    const q = id => document.querySelector(`[data-testid="${id}"]`);
    const cell = id => ({ value: q(id).dataset.value, text: q(id).textContent });
    const row = document.querySelector(rowSel);
    const rowCell = id => row && { value: row.querySelector(`[data-testid="${id}"]`).dataset.value, text: row.querySelector(`[data-testid="${id}"]`).textContent };
    return {
      selected: q("selected-area").textContent,
      slot: q("closed-slot").dataset.slot,
      headline: cell("area-price"),
      headlineSlot: q("area-price-slot").textContent,
      last: cell("closed-last"), mean: cell("closed-mean"), min: cell("closed-min"), max: cell("closed-max"),
      vol: cell("closed-vol"), trades: cell("closed-trades"),
      row: row && { last: rowCell("row-closed-last"), mean: rowCell("row-closed-mean"), vol: rowCell("row-closed-volume") },
    };
  }, [path, rowOf(path)]);
}

const price = s => Number(s).toFixed(4);
const energy = s => Number(s).toFixed(3);

/**
 * Asserts that the page's last closed slot of `path` equals GET /v1/market's `last_closed` of
 * that area: exact decimal strings in data-value, rounded in the text. Reads the page and the
 * API until both speak of the same slot (a slot closes every 3 s). Returns {slot, mean}.
 */
async function assertClosedMatchesApi(page, server, path) {
  const deadline = Date.now() + 6_000;
  for (;;) {
    const shown = await closedView(page, path);
    const [market, clock] = await Promise.all([server.api("/v1/market"), server.api("/v1/clock")]);
    const latest = clock.slots_closed - 1;
    const area = market.areas.find(a => a.area === path);
    const again = await closedView(page, path);
    if (shown.slot === String(latest) && again.slot === shown.slot && JSON.stringify(again) === JSON.stringify(shown) &&
        (area.last_closed === null || area.last_closed.slot === latest)) {
      const api = area.last_closed;
      assert.equal(shown.selected, path);
      assert.equal(shown.headlineSlot, String(latest), "the headline names the last closed slot");
      if (api === null) {
        for (const k of ["last", "mean", "min", "max", "vol", "trades"]) assert.deepEqual(shown[k], { value: "", text: "–" }, `${path}: no trades in slot ${latest}, ${k}`);
        assert.equal(shown.headline.text, "–");
        return { slot: latest, mean: null };
      }
      const expect = { last: api.last_price, mean: api.mean_price, min: api.min_price, max: api.max_price, vol: api.volume_kwh, trades: String(api.trades) };
      for (const [k, v] of Object.entries(expect)) {
        assert.equal(shown[k].value, v, `${path}, slot ${latest}: ${k} is ${shown[k].value}, GET /v1/market says ${v}`);
        assert.equal(shown[k].text, k === "vol" ? energy(v) : k === "trades" ? v : price(v), `${path}, slot ${latest}: ${k} as shown`);
      }
      assert.deepEqual(shown.headline, { value: api.mean_price, text: price(api.mean_price) }, "the headline clearing price is the mean of the last closed slot");
      assert.deepEqual(shown.row, {
        last: { value: api.last_price, text: price(api.last_price) },
        mean: { value: api.mean_price, text: price(api.mean_price) },
        vol: { value: api.volume_kwh, text: energy(api.volume_kwh) },
      }, "the area's row in the tree shows the same");
      return { slot: latest, mean: api.mean_price };
    }
    if (Date.now() > deadline) assert.fail(`the page and GET /v1/market never agreed on the last closed slot: page ${JSON.stringify(shown)}, API slot ${latest} ${JSON.stringify(area.last_closed)}`);
    await sleep(150);
  }
}

/** The points of the price chart and the scale of its y axis (from its labelled grid lines). */
function priceChart(page) {
  return page.evaluate(() => {
    const svg = document.querySelector('[data-testid="price-chart"] svg');
    if (!svg) return null;
    return {
      points: [...svg.querySelectorAll('[data-testid="price-point"]')].map(c => ({ ...c.dataset, cy: +c.getAttribute("cy") })),
      grid: [...svg.querySelectorAll('[data-testid="price-grid"]')].map(l => ({ value: +l.dataset.value, y: +l.getAttribute("y1") })),
      gridLabels: [...svg.querySelectorAll('text[text-anchor="end"]')].map(t => t.textContent),
      xLabel: svg.querySelector('[data-testid="price-x-label"]').textContent,
      yLabel: svg.querySelector('[data-testid="price-y-label"]').textContent,
    };
  });
}

let exchange, browser;
before(async () => {
  browser = await launch();
  exchange = await serve(null);
});
after(async () => {
  await browser?.close();
  await exchange?.stop();
});

test("the page is small and self-contained, loads without errors, and its clock advances slot by slot", { timeout: 60_000 }, async () => {
  const response = await fetch(`${exchange.url}/`);
  assert.match(response.headers.get("content-type"), /^text\/html/);
  const html = await response.text();
  assert.ok(html.length < 45 * 1024, `the page is ${html.length} bytes; it should stay under 45 KB`);
  assert.doesNotMatch(html, /(src|href)\s*=\s*["']?(https?:)?\/\//i, "the page loads nothing from elsewhere");

  const { page, problems } = await openDashboard(browser, exchange);
  const clock = await exchange.api("/v1/clock");
  assert.equal(await page.textContent(byId("clock-scenario")), clock.scenario);
  assert.equal(await page.textContent(byId("clock-speed")), "×300");
  const first = await until(() => clockSlot(page), 10_000, "an open slot in the header");
  const api = (await exchange.api("/v1/clock")).trading?.slot ?? first;
  assert.ok(Math.abs(api - first) <= 1, `the header shows slot ${first}, GET /v1/clock ${api}`);
  assert.match(await page.textContent(byId("clock-tick")), /^\d+ \/ 60$/);
  assert.match(await page.textContent(byId("clock-state")), /^(trading|between slots)$/);
  // Scenario time runs 300 times as fast as the wall clock, and the page redraws its clock every
  // 250 ms (75 s of scenario time). So the page's clock is compared with the exchange's read just
  // before and just after it, give or take one second of wall time (5 minutes of scenario time)
  // for the redraw and a busy machine. A wrong day, time zone or hour is still caught; a stopped
  // clock is caught by the slots below.
  const apiBefore = Date.parse((await exchange.api("/v1/clock")).scenario_time);
  const shownTime = Date.parse((await page.textContent(byId("clock-time"))).replace(" UTC", "Z").replace(" ", "T"));
  const apiAfter = Date.parse((await exchange.api("/v1/clock")).scenario_time);
  const slack = 300 * 1_000;
  assert.ok(
    shownTime >= apiBefore - slack && shownTime <= apiAfter + slack,
    `scenario time ${new Date(shownTime).toISOString()} not within ${new Date(apiBefore).toISOString()} – ${new Date(apiAfter).toISOString()} (± 5 min)`,
  );
  const seen = [first];
  while (seen.length < 3) {
    const last = seen[seen.length - 1];
    seen.push(await until(async () => { const s = await clockSlot(page); return s !== null && s > last && s; }, 10_000, `a slot after ${last}`));
  }
  assert.ok(seen[2] >= first + 2, `the header's slot advanced: ${seen.join(", ")}`);
  assert.equal(await page.getAttribute(byId("conn-status"), "data-live"), "true", "the event stream is connected");
  assertClean(problems);
  await page.close();
});

test("the selected area's clearing prices are GET /v1/market's as slots pass; the price chart draws them; a screenshot is saved", { timeout: 90_000 }, async t => {
  // Record the street's last closed slot as the API reports it, independently of the page.
  const recorded = new Map();
  let recording = true;
  const recorder = (async () => {
    while (recording) {
      try {
        const market = await exchange.api("/v1/market");
        const area = market.areas.find(a => a.area === STREET);
        if (area.last_closed && !recorded.has(area.last_closed.slot)) recorded.set(area.last_closed.slot, area.last_closed);
      } catch { /* the next round */ }
      await sleep(200);
    }
  })();
  try {
    const { page, problems } = await openDashboard(browser, exchange);
    await page.click(`${rowOf(STREET)} ${byId("area-name")}`);
    await until(async () => (await page.textContent(byId("selected-area"))) === STREET, 5_000, "the street to be selected");
    assert.equal(decodeURIComponent(new URL(page.url()).hash), `#area=${STREET}`);
    assert.equal(await page.getAttribute(rowOf(STREET), "class"), "sel", "the selected row is highlighted");

    const steps = [await assertClosedMatchesApi(page, exchange, STREET)];
    while (steps.length < 5) {
      const before = steps[steps.length - 1].slot;
      await until(async () => Number((await closedView(page, STREET)).slot) > before, 10_000, `a slot after ${before} to close`);
      steps.push(await assertClosedMatchesApi(page, exchange, STREET));
    }
    const slots = steps.map(s => s.slot);
    assert.ok(slots.every((s, k) => k === 0 || s > slots[k - 1]), `the last closed slot advances: ${slots.join(", ")}`);
    const means = steps.map(s => s.mean);
    const distinct = new Set(means).size;
    t.diagnostic(`${STREET}: last closed slots ${slots.join(", ")}, mean prices ${means.join(", ")} (${distinct} distinct, each equal to GET /v1/market)`);

    // The price chart: one point per closed slot (those before the page opened from the history), at GET /v1/market's
    // values, placed on the chart's own labelled y axis.
    const chart = await priceChart(page);
    const cur = (await exchange.api("/v1/clock")).currency;
    assert.equal(chart.yLabel, `price (${cur}/kWh)`);
    assert.match(chart.xLabel, /^slot \(slot \d+ delivered from \d\d:\d\d UTC, 15 min each\)$/);
    assert.ok(chart.grid.length >= 2 && chart.gridLabels.length === chart.grid.length, "labelled grid lines");
    const [g0, g1] = [chart.grid[0], chart.grid[chart.grid.length - 1]];
    const yOf = v => g0.y + ((v - g0.value) * (g1.y - g0.y)) / (g1.value - g0.value);
    const closed = chart.points.filter(p => p.open === "false");
    let matched = 0;
    for (const p of closed) {
      const api = recorded.get(Number(p.slot));
      if (!api) continue;
      matched++;
      assert.deepEqual([p.mean, p.min, p.max, p.last], [api.mean_price, api.min_price, api.max_price, api.last_price], `slot ${p.slot} of the price chart`);
      assert.ok(Math.abs(p.cy - yOf(Number(p.mean))) <= 0.6, `slot ${p.slot}: drawn at y ${p.cy}, the axis puts ${p.mean} at ${yOf(Number(p.mean))}`);
    }
    assert.ok(matched >= 4, `the price chart has the slots that closed while the page was open (${matched} matched)`);
    for (const s of slots) if (recorded.has(s)) assert.ok(closed.some(p => Number(p.slot) === s), `slot ${s} is in the price chart`);

    // Screenshots go to NESTGRID_SCREENSHOTS, or tests/browser/screenshots (not committed);
    // with NESTGRID_UPDATE_DOCS_IMAGES=1 the picture also replaces docs/img/dashboard.png.
    // A moment when the open slot's columns, the book and the chart are all filled in.
    await until(async () => (await page.$(`${byId("book-chart")} svg`)) !== null &&
      (await page.textContent(byId("open-slot"))) === (await page.textContent(byId("clock-slot"))) &&
      (await page.$$(`${byId("price-point")}[data-open="false"]`)).length >= 4, 15_000, "the book, the open slot and four closed slots");
    // Better still (not required): a book with bids and offers, in the first half of a window.
    await until(async () => (await page.$$(`${byId("book-level")}[data-side="bid"]`)).length > 0 && (await page.$$(`${byId("book-level")}[data-side="offer"]`)).length > 0, 6_000, "").catch(() => {});
    const dir = process.env.NESTGRID_SCREENSHOTS || join(import.meta.dirname, "screenshots");
    mkdirSync(dir, { recursive: true });
    const path = join(dir, "dashboard.png");
    await page.screenshot({ path, fullPage: true });
    const png = readFileSync(path);
    assert.equal(png.subarray(1, 4).toString("latin1"), "PNG");
    assert.ok(png.length > 20_000, `a screenshot with content (${png.length} bytes)`);
    if (process.env.NESTGRID_UPDATE_DOCS_IMAGES === "1") {
      mkdirSync(join(REPO, "docs", "img"), { recursive: true });
      copyFileSync(path, join(REPO, "docs", "images", "dashboard.png"));
    }
    assertClean(problems);
    await page.close();
  } finally {
    recording = false;
    await recorder;
  }
});

test("the order book chart draws the book the page fetched, on labelled axes", { timeout: 60_000 }, async () => {
  const id = (await exchange.api("/v1/areas")).areas.find(a => a.path === STREET).id;
  const books = [];
  const { page, problems } = await openDashboard(browser, exchange, `#area=${encodeURIComponent(STREET)}`);
  page.on("response", async r => { if (new URL(r.url()).pathname === `/v1/market/${id}/book`) books.push(await r.json().catch(() => null)); });
  assert.equal(await page.textContent(byId("selected-area")), STREET, "#area=PATH selects the area");
  const cur = (await exchange.api("/v1/clock")).currency;
  let nonEmpty = 0;
  const deadline = Date.now() + 30_000;
  // Until the page has drawn three non-empty books, each equal to a book it fetched.
  while (nonEmpty < 3) {
    assert.ok(Date.now() < deadline, "three non-empty books drawn in 30 s");
    await sleep(400);
    const drawn = await page.evaluate(() => {
      const svg = document.querySelector('[data-testid="book-chart"] svg');
      if (!svg) return null;
      return {
        levels: [...svg.querySelectorAll('[data-testid="book-level"]')].map(r => ({ side: r.dataset.side, price: r.dataset.price, kwh: r.dataset.kwh, width: +r.getAttribute("width") })),
        ticks: [...svg.querySelectorAll('[data-testid="book-x-tick"]')].map(t => ({ value: +t.textContent, x: +t.getAttribute("x") })),
        xLabel: svg.querySelector('[data-testid="book-x-label"]').textContent,
        yLabel: svg.querySelector('[data-testid="book-y-label"]').textContent,
      };
    });
    if (!drawn) continue;
    const match = books.filter(Boolean).slice(-4).find(b => JSON.stringify([...b.offers.map(l => ["offer", l.price, l.energy_kwh]).reverse(), ...b.bids.map(l => ["bid", l.price, l.energy_kwh])]) ===
      JSON.stringify(drawn.levels.map(l => [l.side, l.price, l.kwh])));
    if (!match) continue;
    assert.equal(match.area, STREET);
    assert.equal(drawn.yLabel, `price (${cur}/kWh)`);
    assert.equal(drawn.xLabel, "energy offered / bid (kWh)");
    // Bar lengths on the x axis's own scale (labelled ticks), to the 0.1 px they are rounded to.
    const [t0, t1] = [drawn.ticks[0], drawn.ticks[drawn.ticks.length - 1]];
    assert.equal(t0.value, 0);
    const perKwh = (t1.x - t0.x) / (t1.value - t0.value);
    for (const l of drawn.levels) assert.ok(Math.abs(l.width - Math.max(1, Number(l.kwh) * perKwh)) <= 0.06, `${l.side} ${l.price}: ${l.width} px for ${l.kwh} kWh`);
    const offers = drawn.levels.filter(l => l.side === "offer").map(l => Number(l.price));
    const bids = drawn.levels.filter(l => l.side === "bid").map(l => Number(l.price));
    assert.ok(offers.every((p, k) => k === 0 || p < offers[k - 1]), "offers from the highest down to the best");
    assert.ok(bids.every((p, k) => k === 0 || p < bids[k - 1]), "bids from the best down");
    nonEmpty++;
  }
  assertClean(problems);
  await page.close();
});

test("while the event stream is down the page polls, and it reconnects", { timeout: 60_000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems = [];
  page.on("pageerror", e => problems.push(`page error: ${e.message}`));
  page.on("console", m => { if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`); });
  let blocked = true, attempts = 0;
  await page.routeWebSocket(/\/v1\/stream$/, ws => {
    attempts++;
    if (blocked) ws.close();
    else ws.connectToServer();
  });
  await page.goto(`${exchange.url}/`);
  await page.waitForSelector(byId("area-row"));
  await until(async () => (await page.getAttribute(byId("conn-status"), "data-live")) === "false", 5_000, "the page to notice the stream is down");
  const first = await until(() => clockSlot(page), 10_000, "an open slot");
  const closedBefore = Number((await closedView(page, STREET)).slot);
  await until(async () => { const s = await clockSlot(page); return s !== null && s >= first + 2; }, 12_000, `slot ${first + 2} while polling`);
  assert.ok(Number((await closedView(page, STREET)).slot) > closedBefore, "closed slots advance while polling");
  assert.equal(await page.getAttribute(byId("conn-status"), "data-live"), "false");
  assert.ok(attempts >= 2, `the page tried to reconnect (${attempts} attempts)`);
  blocked = false;
  await until(async () => (await page.getAttribute(byId("conn-status"), "data-live")) === "true", 20_000, "the stream to reconnect");
  const now = await clockSlot(page) ?? first + 2;
  await until(async () => { const s = await clockSlot(page); return s !== null && s > now; }, 10_000, "a slot after reconnecting");
  assert.deepEqual(problems, []);
  await page.close();
});

/**
 * The four headers of a request signed with a key file of `nestgrid serve` (docs of auth.rs),
 * given as its path or as its content.
 */
function signed(keyFile, method, path, body) {
  const key = typeof keyFile === "string" ? JSON.parse(readFileSync(keyFile, "utf8")) : keyFile;
  const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), Buffer.from(key.secret_key, "hex")]);
  const secret = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  const timestamp = String(Date.now()), nonce = randomBytes(16).toString("hex");
  const tag = Buffer.from("nestgrid-api-v1"), length = Buffer.alloc(4);
  length.writeUInt32LE(tag.length);
  const message = `${method}\n${path}\n${timestamp}\n${nonce}\n${createHash("sha256").update(body).digest("hex")}`;
  const signature = sign(null, Buffer.concat([length, tag, Buffer.from(message)]), secret).toString("hex");
  return { "x-nestgrid-key": key.public_key, "x-nestgrid-timestamp": timestamp, "x-nestgrid-nonce": nonce, "x-nestgrid-signature": signature };
}

const WIDE = `name: Wide
simulation:
  time_zone: Europe/Berlin
  duration: 2h
  slot_length: 15m
  tick_length: 15s
  seed: 7
  currency: EUR
market:
  mechanism: pay-as-bid
areas:
  - name: Grid
    grid_connection: { tariff: 0.30, feed_in: 0.08 }
  - name: Workshop
    children:
      - name: Load
        load: { power_w: 1500 }
  - name: House
    count: 120
    vary: 0.2
    import_limit_kw: 3
    export_limit_kw: 2.5
    children:
      - name: Load
        load: { annual_kwh: 4000 }
      - name: PV
        pv: { capacity_kw: 5 }
`;

test("120 top-level areas: the tree and its search stay usable, limits and islanded areas are shown, and the end is shown", { timeout: 120_000 }, async () => {
  const wide = await serve(WIDE);
  try {
    const areas = (await wide.api("/v1/areas")).areas;
    assert.equal(areas.length, 122);
    const { page, problems } = await openDashboard(browser, wide);
    const paths = () => page.$$eval(byId("area-row"), rows => rows.map(r => r.dataset.areaPath));
    assert.deepEqual(await paths(), areas.map(a => a.path), "the root is open, its 121 areas listed in order");

    for (const q of ["house 11", "Wide/House 7", "workshop"]) {
      await page.fill(byId("area-search"), q);
      const hits = areas.filter(a => a.path.toLowerCase().includes(q.toLowerCase())).map(a => a.path);
      assert.deepEqual(await paths(), hits, `search ${q}`);
      assert.equal(await page.textContent(byId("tree-note")), hits.length === 1 ? "1 area matches" : `${hits.length} areas match`);
    }
    await page.fill(byId("area-search"), "no such area");
    assert.deepEqual(await paths(), []);
    assert.equal(await page.textContent(byId("tree-note")), "no area matches");

    // Limits in the rows, as /v1/areas gives them.
    const target = "Wide/House 117";
    await page.fill(byId("area-search"), "House 117");
    const limited = areas.find(a => a.path === target);
    assert.equal(await page.textContent(`${rowOf(target)} ${byId("area-limits")}`), `⇣ ${limited.import_limit_kw} kW ⇡ ${limited.export_limit_kw} kW`);
    await page.click(`${rowOf(target)} ${byId("area-name")}`);
    await until(async () => (await page.textContent(byId("selected-area"))) === target, 5_000, "the house to be selected");
    assert.equal(await page.textContent(byId("selected-limits")), "⇣ 3 kW ⇡ 2.5 kW");
    await page.fill(byId("area-search"), "");
    assert.equal((await paths()).length, 122, "clearing the search shows the tree again");
    assert.equal(await page.$(`${rowOf("Wide/Workshop")} ${byId("area-limits")}`), null, "no limit, no badge");

    // The DSO islands the house: from the next slot the row and the view show it.
    const body = JSON.stringify({ area: target, action: "island" });
    const response = await fetch(`${wide.url}/v1/grid/events`, {
      method: "POST", body,
      headers: { "content-type": "application/json", ...signed(join(wide.data, "keys", "dso.key"), "POST", "/v1/grid/events", body) },
    });
    assert.equal(response.status, 201, await response.clone().text());
    const event = await response.json();
    await until(async () => (await page.getAttribute(rowOf(target), "data-islanded")) === "true", 15_000, "the islanded row");
    const market = await wide.api("/v1/market");
    assert.deepEqual(market.areas.filter(a => a.islanded).map(a => a.area), [target], "GET /v1/market: only the house is islanded");
    assert.deepEqual(await page.$$eval(`${byId("area-row")}[data-islanded="true"]`, rows => rows.map(r => r.dataset.areaPath)), [target]);
    assert.match(await page.getAttribute(rowOf(target), "class"), /\bisl\b/);
    assert.ok(await page.isVisible(`${rowOf(target)} ${byId("area-islanded")}`), "the row's islanded badge");
    assert.ok(await page.isVisible(byId("selected-islanded")), "the view's islanded badge");
    assert.equal(await page.isVisible(`${rowOf("Wide/House 116")} ${byId("area-islanded")}`), false);
    await until(async () => (await page.textContent(byId("grid-events"))).includes(`island ${target} from slot ${event.from_slot}`), 5_000, "the grid event");

    // Eight slots of 3 s: the exchange finishes and the page says so.
    await until(async () => (await page.textContent(byId("clock-state"))) === "finished", 60_000, "the finished state");
    assert.equal((await wide.api("/v1/clock")).finished, true);
    assert.equal(await page.textContent(byId("clock-slot")), "–");
    assertClean(problems);
    await page.close();
  } finally {
    await wide.stop();
  }
});

const MILLER = "Exchange/Street/Miller house", HEAT_PUMP = `${MILLER}/Heat pump`;

/** A signed POST of `value` as JSON with the key (file), in Node: {status, body}. */
async function signedPost(server, key, path, value) {
  const body = JSON.stringify(value);
  const response = await fetch(server.url + path, {
    method: "POST", body,
    headers: { "content-type": "application/json", ...signed(key, "POST", path, body) },
  });
  return { status: response.status, body: await response.json() };
}

/** The selected area's flows across its boundary as the page shows them, and the tree's limit marks. */
function flowView(page) {
  return page.evaluate(() => {
    const q = s => document.querySelector(s);
    const cell = (k, st) => {
      const c = q(`[data-testid="flow-${k}"] [data-testid="flow-${st}"]`);
      return { slot: c.dataset.slot, value: c.dataset.value, reached: c.dataset.reached, text: c.textContent };
    };
    const flow = k => ({ limit: q(`[data-testid="flow-${k}"]`).dataset.limitKwh, limitText: q(`[data-testid="flow-${k}"] [data-testid="flow-limit"]`).textContent, open: cell(k, "open"), closed: cell(k, "closed") });
    return {
      selected: q('[data-testid="selected-area"]').textContent,
      import: flow("import"), export: flow("export"),
      rows: [...document.querySelectorAll('[data-testid="area-row"]')].map(r => ({
        path: r.dataset.areaPath, binding: r.dataset.binding, lim: r.classList.contains("lim"), isl: r.classList.contains("isl"),
        edge: getComputedStyle(r.cells[0]).boxShadow,
        badges: [...r.querySelectorAll('[data-testid="limit-badge"]')].map(b => ({ limit: b.dataset.limit, state: b.dataset.state, slot: b.dataset.slot, text: b.textContent, visible: b.offsetParent !== null, background: getComputedStyle(b).backgroundColor })),
      })),
    };
  });
}

test("a limit the trades reach is marked in the tree and in the area's flows as GET /v1/market and the history report it; a reload keeps the price chart's closed slots", { timeout: 120_000 }, async t => {
  // The built-in exchange, with a 1 kW import limit on the Miller house (0.25 kWh per slot).
  // Its PV sells to its heat pump first; made 2 kW instead of 6, it covers at most 0.5 kWh of
  // the 1 kWh bought below, so the rest crosses the boundary whatever the hour and the season.
  const builtIn = readFileSync(join(REPO, "crates", "grid", "scenarios", "exchange.yaml"), "utf8");
  const scenario = builtIn.replace("      - name: Miller house\n", "      - name: Miller house\n        import_limit_kw: 1\n")
    .replace("pv: { capacity_kw: 6 }", "pv: { capacity_kw: 2 }");
  assert.equal(scenario.split("import_limit_kw: 1").length + scenario.split("capacity_kw: 2 }").length, 4, "the built-in scenario has the Miller house and its 6 kW PV");
  const ex = await serve(scenario);
  t.after(() => ex.stop());
  const areas = (await ex.api("/v1/areas")).areas;
  const house = areas.find(a => a.path === MILLER);
  assert.deepEqual([house.import_limit_kw, house.export_limit_kw], ["1", null]);
  assert.deepEqual(areas.filter(a => a.import_limit_kw !== null || a.export_limit_kw !== null).map(a => a.path), [MILLER], "the house is the only area with a limit");
  const limitKwh = (await ex.api("/v1/market")).areas[house.id].import_limit_kwh;
  assert.equal(limitKwh, "0.25", "1 kW for a 15-minute slot");

  // The operator registers a participant's key for the heat pump.
  const agent = freshKey();
  const registered = await signedPost(ex, join(ex.data, "keys", "operator.key"), "/v1/participants", { public_key: agent.public_key, name: "heat pump agent", assets: [HEAT_PUMP] });
  assert.equal(registered.status, 201, JSON.stringify(registered.body));

  const { page, problems } = await openDashboard(browser, ex, `#area=${encodeURIComponent(MILLER)}`);
  assert.equal(await page.textContent(byId("selected-area")), MILLER);
  const first = await flowView(page);
  assert.deepEqual([first.import.limit, first.import.limitText, first.export.limit, first.export.limitText], ["0.25", energy(limitKwh), "", "none"], "the flows table names the limits per slot");

  // Buy 1 kWh at 0.50 for the next slot that opens with most of its window ahead: 4 kW on
  // average, above the house's 1 kW.
  const clock = await ex.api("/v1/clock");
  const slot = clock.trading ? clock.trading.slot + (clock.trading.next_tick + 20 < clock.ticks_per_slot ? 1 : 2) : clock.slots_closed + 1;
  const placed = await signedPost(ex, agent, "/v1/tenders", { asset: HEAT_PUMP, side: "buy", slot, energy_kwh: "1", price: "0.50" });
  assert.equal(placed.status, 201, JSON.stringify(placed.body));

  // While the slot trades: the row's badge for the open slot, and the open slot's import as
  // GET /v1/market reports it at the same moment.
  const badge = state => `${rowOf(MILLER)} ${byId("limit-badge")}[data-limit="import"][data-state="${state}"][data-slot="${slot}"]`;
  await until(() => page.$(badge("open")), 15_000, `the import limit reached in open slot ${slot}`);
  const agreed = await until(async () => {
    const shown = await flowView(page);
    const market = await ex.api("/v1/market");
    const again = await flowView(page);
    if (market.slot !== slot) assert.fail(`slot ${slot} closed before the page and GET /v1/market agreed on its import`);
    const api = market.areas[house.id];
    return JSON.stringify(shown.import) === JSON.stringify(again.import) && shown.import.open.value === api.imported_kwh && { shown: shown.import.open, api };
  }, 3_000, `the page and GET /v1/market to agree on open slot ${slot}`);
  assert.deepEqual(agreed.api.binding, ["import"], "GET /v1/market: the open slot reached the import limit");
  assert.deepEqual(agreed.shown, { slot: String(slot), value: agreed.api.imported_kwh, reached: "true", text: `${energy(agreed.api.imported_kwh)} of ${energy(limitKwh)} — reached` });

  // Once the slot closed: the row is marked for the closed slot, the flows are the history's.
  await until(() => page.$(badge("closed")), 15_000, `the import limit reached in closed slot ${slot}`);
  const view = await flowView(page);
  const entry = (await ex.api(`/v1/market/${house.id}/history`)).slots.find(e => e.slot === slot);
  assert.deepEqual(entry.binding, ["import"], `the history: slot ${slot} reached the import limit`);
  assert.ok(Number(entry.imported_kwh) >= 0.25, `slot ${slot} imported ${entry.imported_kwh} kWh`);
  assert.deepEqual(view.import.closed, { slot: String(slot), value: entry.imported_kwh, reached: "true", text: `${energy(entry.imported_kwh)} of ${energy(limitKwh)} — reached` }, "the imported kWh of the history");
  assert.deepEqual(view.export.closed, { slot: String(slot), value: entry.exported_kwh, reached: "false", text: energy(entry.exported_kwh) }, "no export limit");
  const market = await ex.api("/v1/market");
  const closedApi = market.areas[house.id].last_closed;
  if (market.last_closed_slot === slot && closedApi) assert.deepEqual([closedApi.imported_kwh, closedApi.binding], [entry.imported_kwh, ["import"]], "GET /v1/market's last closed slot");
  t.diagnostic(`slot ${slot}: the Miller house imported ${entry.imported_kwh} kWh against ${limitKwh} kWh per slot (open slot so far: ${agreed.api.imported_kwh}); GET /v1/market's last_closed ${closedApi ? "has it" : "is null (no trades in the house's own market)"}`);
  assert.deepEqual(view.rows.map(r => r.path), areas.map(a => a.path), "every area is listed");
  const marked = view.rows.filter(r => r.badges.length || r.binding || r.lim);
  assert.deepEqual(marked.map(r => r.path), [MILLER], "only the Miller house is marked; areas without limits are not");
  const row = marked[0];
  assert.equal(row.binding, "import");
  assert.equal(row.isl, false);
  assert.match(row.edge, /rgb\(209, 73, 91\)/, "a red edge");
  const closedBadge = row.badges.find(b => b.state === "closed");
  assert.deepEqual({ ...closedBadge, background: undefined }, { limit: "import", state: "closed", slot: String(slot), text: `limit reached: import (slot ${slot})`, visible: true, background: undefined });
  const islandedBadge = await page.$eval(`${rowOf(MILLER)} ${byId("area-islanded")}`, b => { b.hidden = false; const c = getComputedStyle(b).backgroundColor; b.hidden = true; return c; });
  assert.notEqual(closedBadge.background, islandedBadge, "the badge is not the islanded one");
  for (const a of market.areas) if (a.area !== MILLER) assert.deepEqual([a.binding, a.last_closed?.binding ?? []], [[], []], `GET /v1/market: ${a.area} reaches no limit`);
  assertClean(problems);

  // The root's price chart after a reload: the slots that closed before it, as the history has them.
  const ROOT = "Exchange", root = areas.find(a => a.path === ROOT);
  await until(async () => (await ex.api("/v1/clock")).slots_closed >= slot + 3, 15_000, "three more slots");
  await page.click(`${rowOf(ROOT)} ${byId("area-name")}`);
  await until(async () => (await page.textContent(byId("selected-area"))) === ROOT, 5_000, "the root to be selected");
  const closedBefore = (await ex.api("/v1/clock")).slots_closed;
  const mark = problems.length;
  await page.reload({ waitUntil: "load" });
  await page.waitForSelector(byId("area-row"));
  // Requests the reload cut short are not the page's errors.
  problems.splice(mark, problems.length - mark, ...problems.slice(mark).filter(p => !/^failed request: .* \(net::ERR_ABORTED\)$/.test(p)));
  assert.equal(await page.textContent(byId("selected-area")), ROOT, "the reload keeps the selection");
  const traded = (await ex.api(`/v1/market/${root.id}/history`)).slots.filter(e => e.trades > 0 && e.slot < closedBefore);
  assert.ok(traded.filter(e => e.slot < closedBefore - 1).length >= 2, `the root traded in ${traded.length} slots before the reload, at least two before the last closed one (that only the history has)`);
  const chart = await until(async () => {
    const c = await priceChart(page);
    return c && traded.every(e => c.points.some(p => p.open === "false" && Number(p.slot) === e.slot)) && c;
  }, 10_000, "the chart to have the slots closed before the reload");
  const history = new Map((await ex.api(`/v1/market/${root.id}/history`)).slots.map(e => [e.slot, e]));
  const [g0, g1] = [chart.grid[0], chart.grid[chart.grid.length - 1]];
  const yOf = v => g0.y + ((v - g0.value) * (g1.y - g0.y)) / (g1.value - g0.value);
  for (const p of chart.points.filter(p => p.open === "false")) {
    const e = history.get(Number(p.slot));
    assert.ok(e && e.trades > 0, `slot ${p.slot} of the chart traded in the history`);
    assert.deepEqual([p.mean, p.min, p.max, p.last], [e.mean_price, e.min_price, e.max_price, e.last_price], `slot ${p.slot} of the chart is the history's`);
    assert.ok(Math.abs(p.cy - yOf(Number(p.mean))) <= 0.6, `slot ${p.slot}: drawn at y ${p.cy}, the axis puts ${p.mean} at ${yOf(Number(p.mean))}`);
  }
  t.diagnostic(`after the reload the chart has ${traded.length} slots that closed before it (${traded.map(e => e.slot).join(", ")}), equal to GET /v1/market/${root.id}/history`);
  assertClean(problems);
  await page.close();
});

/** A signed GET of `path` with the key (file), in Node: {status, body}. */
async function signedGet(server, key, path) {
  const response = await fetch(server.url + path, { headers: signed(key, "GET", path, "") });
  return { status: response.status, body: await response.json() };
}

/** A new ed25519 key in the format of `nestgrid keygen` (the secret is the 32-byte seed). */
function freshKey() {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  return {
    public_key: publicKey.export({ format: "der", type: "spki" }).subarray(-32).toString("hex"),
    secret_key: privateKey.export({ format: "der", type: "pkcs8" }).subarray(-32).toString("hex"),
  };
}

/** The transactions panel: each slot's header row and its rows' cells, read at one moment. */
function txView(page) {
  return page.evaluate(() => ({
    visible: !document.querySelector('[data-testid="tx-panel"]').hidden,
    area: document.querySelector('[data-testid="tx-area"]').textContent,
    slots: [...document.querySelectorAll('[data-testid="tx-slot"]')].map(g => ({
      ...g.dataset,
      rows: [...document.querySelectorAll(`[data-testid="tx-row"][data-slot="${g.dataset.slot}"]`)]
        .map(tr => ({ id: tr.dataset.id, side: tr.dataset.side, cells: [...tr.cells].map(td => td.textContent) })),
    })),
  }));
}

/** A transaction of the API as the panel shows it: the API's own strings, unrounded. */
const txRow = t => ({ id: String(t.id), side: t.side, cells: [String(t.slot), String(t.tick), t.asset, t.side, t.energy_kwh, t.price, t.amount, t.fees, t.market] });

/** Checks a request the browser signed, with node:crypto, over the bytes auth.rs describes. */
async function assertSignedByBrowser(request, publicKeyHex) {
  const h = await request.allHeaders();
  const u = new URL(request.url());
  assert.equal(h["x-nestgrid-key"], publicKeyHex, `${u.pathname}${u.search}: the key header`);
  assert.match(h["x-nestgrid-nonce"], /^[A-Za-z0-9_-]{8,64}$/);
  assert.match(h["x-nestgrid-timestamp"], /^\d+$/);
  assert.ok(Math.abs(Number(h["x-nestgrid-timestamp"]) - (request.seenAt ?? Date.now())) < 30_000, "signed on the current time");
  assert.match(h["x-nestgrid-signature"], /^[0-9a-f]{128}$/);
  const tag = Buffer.from("nestgrid-api-v1"), length = Buffer.alloc(4);
  length.writeUInt32LE(tag.length);
  const message = `${request.method()}\n${u.pathname}${u.search}\n${h["x-nestgrid-timestamp"]}\n${h["x-nestgrid-nonce"]}\n${createHash("sha256").update(request.postDataBuffer() ?? Buffer.alloc(0)).digest("hex")}`;
  const key = createPublicKey({ key: Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), Buffer.from(publicKeyHex, "hex")]), format: "der", type: "spki" });
  assert.ok(verify(null, Buffer.concat([length, tag, Buffer.from(message)]), key, Buffer.from(h["x-nestgrid-signature"], "hex")),
    `the browser's signature of ${request.method()} ${u.pathname}${u.search} verifies with node:crypto`);
  return h["x-nestgrid-nonce"];
}

test("signed in with the auditor's key file, the page shows who it is and lists exactly the transactions of a signed GET /v1/transactions", { timeout: 90_000 }, async t => {
  // An exchange of its own, at its first slots, whatever the tests before took.
  const exchange = await serve(null);
  t.after(() => exchange.stop());
  const keyFile = join(exchange.data, "keys", "auditor.key");
  const key = JSON.parse(readFileSync(keyFile, "utf8"));
  const { page, problems } = await openDashboard(browser, exchange, "", { allowed: SIGNED });
  const sent = [];
  page.on("request", r => sent.push(Object.assign(r, { seenAt: Date.now() })));
  assert.equal((await txView(page)).visible, false, "no transactions before signing in");
  assert.equal(await page.isVisible(byId("auth-unsupported")), false, "this Chromium signs with Ed25519");
  assert.equal(await page.isEnabled(byId("auth-file")), true);

  await page.setInputFiles(byId("auth-file"), keyFile);
  await until(() => page.isVisible(byId("auth-name")), 10_000, "the page to sign in");
  const me = await signedGet(exchange, keyFile, "/v1/participants/me");
  assert.equal(me.status, 200);
  assert.deepEqual([me.body.name, me.body.role, me.body.public_key], ["auditor", "auditor", key.public_key]);
  assert.equal(await page.textContent(byId("auth-name")), me.body.name);
  assert.equal(await page.textContent(byId("auth-role")), me.body.role);
  assert.ok(key.public_key.startsWith((await page.textContent(byId("auth-key"))).replace("…", "")), "the key's start is shown");
  assert.equal(await page.isVisible(byId("auth-signin")), false, "signed in, the sign-in control gives way to sign out");
  assert.equal(await page.isVisible(byId("auth-problem")), false);

  // The last closed slot, once the page fetched it after the close, is exactly what the
  // exchange answers the same key for that slot; the open slot's rows so far are in its answer.
  const root = await page.textContent(byId("selected-area"));
  const compare = async (area, seenSlot) => {
    const view = await until(async () => {
      const v = await txView(page);
      const closed = v.slots.find(g => g.state === "closed" && g.final === "true");
      return v.area === area && closed && Number(closed.slot) > seenSlot && v;
    }, 15_000, `a closed slot after ${seenSlot} in the panel of ${area}`);
    const closed = view.slots.find(g => g.state === "closed");
    const slot = Number(closed.slot);
    const api = await signedGet(exchange, keyFile, `/v1/transactions?slot=${slot}`);
    assert.equal(api.status, 200);
    const expected = api.body.transactions.filter(x => x.asset.startsWith(area + "/")).reverse().map(txRow);
    assert.ok(expected.length > 0, `slot ${slot} has transactions in ${area}`);
    assert.deepEqual(closed.rows, expected, `${area}, slot ${slot}: the panel lists what GET /v1/transactions?slot=${slot} returns, newest first`);
    assert.equal(closed.count, String(expected.length));
    t.diagnostic(`${area}: slot ${slot} lists ${expected.length} of ${api.body.transactions.length} transactions, equal to GET /v1/transactions`);
    return { slot, total: api.body.transactions.length, shown: expected.length };
  };
  const first = await compare(root, -1);
  assert.equal(first.shown, first.total, "the root's panel lists every transaction");
  const second = await compare(root, first.slot);

  // While a slot trades, the rows the page polled so far are transactions of that slot. The
  // exchange runs on the wall clock, so its time of day is the real one: at night the houses
  // buy from the grid only as their bids reach the tariff, near the end of each slot, and a
  // slot may close before the page polls a trade of it. Then nothing is there to compare, and
  // the test says so.
  let open = null;
  for (const stop = Date.now() + 45_000; !open && Date.now() < stop;) {
    open = (await txView(page)).slots.find(g => g.state === "open" && g.rows.length > 0);
    if (!open) await new Promise(resolve => setTimeout(resolve, 200));
  }
  if (open) {
    const later = await signedGet(exchange, keyFile, `/v1/transactions?slot=${open.slot}`);
    const known = new Set(later.body.transactions.map(x => JSON.stringify(txRow(x))));
    for (const row of open.rows) assert.ok(known.has(JSON.stringify(row)), `open slot ${open.slot}: ${row.cells.join(" ")} is a transaction of the exchange`);
    assert.equal(open.count, String(open.rows.length));
    t.diagnostic(`open slot ${open.slot}: ${open.rows.length} transactions so far, each in GET /v1/transactions?slot=${open.slot}`);
  } else {
    t.diagnostic("no slot showed a transaction while it traded within 45 s (trades only at the ends of the slots at this time of day): the open slot's rows were not compared");
  }

  // Selecting the street narrows the panel to the street's assets.
  await page.click(`${rowOf(STREET)} ${byId("area-name")}`);
  const street = await compare(STREET, second.slot - 1);
  assert.ok(street.shown < street.total, `the street's panel leaves out the assets outside it (${street.shown} of ${street.total})`);

  // Every signed request of the page verifies independently with node:crypto; no nonce twice.
  const signedRequests = sent.filter(r => /^\/v1\/(transactions|participants\/me)$/.test(new URL(r.url()).pathname));
  assert.ok(signedRequests.length >= 4, `the page polled the transactions (${signedRequests.length} signed requests)`);
  const nonces = [];
  for (const r of signedRequests) nonces.push(await assertSignedByBrowser(r, key.public_key));
  assert.equal(new Set(nonces).size, nonces.length, "a new nonce for every request");
  assert.ok(signedRequests.some(r => /^\/v1\/transactions\?slot=\d+$/.test(new URL(r.url()).pathname + new URL(r.url()).search)));

  // The secret never leaves the page and is not stored.
  for (const r of sent) {
    const text = [r.url(), JSON.stringify(await r.allHeaders()), r.postData() ?? ""].join(" ").toLowerCase();
    assert.ok(!text.includes(key.secret_key.toLowerCase()), `${r.url()} carries no secret key`);
  }
  const stored = await page.evaluate(async () => ({ local: localStorage.length, session: sessionStorage.length, cookie: document.cookie, dbs: (await indexedDB.databases()).length }));
  assert.deepEqual(stored, { local: 0, session: 0, cookie: "", dbs: 0 }, "nothing stored in the browser");

  // Signing out forgets the key and the data.
  await page.click(byId("auth-signout"));
  assert.equal(await page.isVisible(byId("auth-signin")), true);
  const out = await txView(page);
  assert.equal(out.visible, false);
  assert.deepEqual(out.slots, []);
  const count = sent.length;
  await sleep(1_500);
  assert.deepEqual(sent.slice(count).map(r => new URL(r.url()).pathname).filter(p => !ALLOWED.some(re => re.test(p))), [], "signed out, the page makes no signed request");
  assertClean(problems);
  await page.close();
});

test("a key the exchange does not know shows the server's problem (403 not registered) instead of data; a broken key file is refused in the page", { timeout: 60_000 }, async t => {
  const exchange = await serve(null);
  t.after(() => exchange.stop());
  const { page, problems } = await openDashboard(browser, exchange, "", { allowed: SIGNED });
  const sent = [];
  page.on("request", r => sent.push(new URL(r.url()).pathname));
  const stranger = freshKey();
  await page.fill(byId("auth-text"), JSON.stringify(stranger, null, 2));
  await page.click(byId("auth-submit"));
  await until(() => page.isVisible(byId("auth-problem")), 10_000, "the problem to be shown");
  assert.equal(await page.inputValue(byId("auth-text")), "", "the pasted key is not left in the field");
  const api = await signedGet(exchange, stranger, "/v1/participants/me");
  assert.equal(api.status, 403);
  assert.equal(api.body.title, "not registered");
  assert.match(api.body.detail, new RegExp(`key ${stranger.public_key} is not registered`));
  assert.equal(await page.textContent(byId("auth-problem")), `403 not registered: ${api.body.detail}`, "the server's problem detail");
  assert.equal(await page.getAttribute(byId("auth-problem"), "data-status"), "403");
  assert.equal(await page.isVisible(byId("auth-name")), false, "not signed in");
  assert.equal(await page.isVisible(byId("auth-signin")), true);
  await sleep(1_500);
  const view = await txView(page);
  assert.equal(view.visible, false, "no transactions panel");
  assert.deepEqual(view.slots, []);
  assert.ok(!sent.includes("/v1/transactions"), "no transactions were asked for");
  assert.deepEqual(sent.filter(p => p === "/v1/participants/me"), ["/v1/participants/me"], "one signed request: who am I");

  // Not a key file, and a public key that is not the secret's: refused before any request.
  const before = sent.length;
  await page.fill(byId("auth-text"), "hello");
  await page.click(byId("auth-submit"));
  await until(async () => /^not a key file/.test(await page.textContent(byId("auth-problem"))), 5_000, "the key file to be refused");
  const other = freshKey();
  await page.setInputFiles(byId("auth-file"), { name: "mixed.key", mimeType: "application/json", buffer: Buffer.from(JSON.stringify({ public_key: other.public_key, secret_key: stranger.secret_key })) });
  await until(async () => (await page.textContent(byId("auth-problem"))) === "the public key does not belong to the secret key", 5_000, "the mismatched key to be refused");
  assert.deepEqual(sent.slice(before).filter(p => !ALLOWED.some(re => re.test(p))), [], "nothing signed was sent for them");
  // The browser itself logs the 403 answer; the page logs nothing else.
  assertClean(problems.filter(p => !/Failed to load resource: the server responded with a status of 403/.test(p)));
  await page.close();
});

test("without WebCrypto Ed25519 the page says it cannot sign in", { timeout: 30_000 }, async () => {
  const { page, problems } = await openDashboard(browser, exchange, "", {
    init: () => {
      const generate = SubtleCrypto.prototype.generateKey;
      SubtleCrypto.prototype.generateKey = function (algorithm, ...rest) {
        return (algorithm?.name ?? algorithm) === "Ed25519" ? Promise.reject(new DOMException("Unrecognized name", "NotSupportedError")) : generate.call(this, algorithm, ...rest);
      };
    },
  });
  await until(() => page.isVisible(byId("auth-unsupported")), 5_000, "the notice");
  assert.match(await page.textContent(byId("auth-unsupported")), /no WebCrypto Ed25519/);
  assert.equal(await page.isEnabled(byId("auth-file")), false);
  assert.equal(await page.isEnabled(byId("auth-submit")), false);
  assertClean(problems);
  await page.close();
});
