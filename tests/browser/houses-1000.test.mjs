// report.html of 1,000 houses in 10 streets (houses-1000.yaml, 1,011 areas, 3,001 assets, one
// day) in headless Chromium: it loads and renders, the large tree and the search stay usable, and
// sampled views match the results files. Prints the load and render times.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { HERE, assertClean, clickTo, launch, open, short, simulate, tree, view } from "./helpers.mjs";
import { checkArea, checkCompare } from "./checks.mjs";

// A sanity limit only: on a 2-core machine the page loads in well under a second.
const LIMIT_MS = 60_000;

const ms = t => `${Math.round(t)} ms`;
const timed = async f => { const t = performance.now(); await f(); return performance.now() - t; };

let run, browser;
before(async () => {
  const started = performance.now();
  run = simulate(join(HERE, "houses-1000.yaml"));
  console.log(`1,000 houses: simulated, report written and results read in ${ms(performance.now() - started)}`);
  browser = await launch();
});
after(async () => {
  await browser?.close();
  run?.remove();
});

test("the 1,000-house report loads and renders the root in reasonable time", { timeout: LIMIT_MS }, async t => {
  const res = run.results;
  assert.equal(res.kpis.areas.length, 1011);
  assert.equal(res.kpis.assets.length, 3001);
  const { page, problems, loadMs } = await open(browser, run.url);
  const nav = await page.evaluate(() => {
    const e = performance.getEntriesByType("navigation")[0];
    return { domContentLoaded: e.domContentLoadedEventEnd, load: e.loadEventEnd, size: e.decodedBodySize };
  });
  const v = await view(page);
  checkArea(v, res, res.areaNames[0]);
  assert.equal(v.charts.length, 3);
  const message = `1,000-house report (${(nav.size / 1e6).toFixed(2)} MB): load and render ${ms(loadMs)} (in the page: DOMContentLoaded ${ms(nav.domContentLoaded)}, load ${ms(nav.load)})`;
  t.diagnostic(message);
  assert.ok(loadMs < LIMIT_MS);
  assertClean(problems);
  await page.close();
});

test("the tree opens a street of 100 houses, and the selected house is scrolled into view", async t => {
  const res = run.results;
  const root = res.areaNames[0];
  const streets = res.childAreas(root);
  const street = streets[streets.length - 1].name, houses = res.childAreas(street);
  assert.equal(houses.length, 100);
  const { page, problems } = await open(browser, run.url);
  assert.equal((await tree(page)).length, 1 + streets.length, "only the root is open");
  const openMs = await timed(() => page.click(`#tree button[data-t="${res.areaIndex(street)}"]`));
  const t1 = await tree(page);
  assert.equal(t1.length, 1 + streets.length + houses.length);
  assert.deepEqual(t1.slice(-houses.length).map(e => e.text), houses.map(a => short(a.name)));

  const house = houses[houses.length - 1].name;
  const selectMs = await timed(() => clickTo(page, `#n${res.areaIndex(house)}`, short(house)));
  checkArea(await view(page), res, house);
  t.diagnostic(`opening a street of 100 houses: ${ms(openMs)}; selecting a house: ${ms(selectMs)}`);

  // Through a link of the street's view, the tree scrolls to show the selected house.
  await clickTo(page, `#view .crumbs a[href="#area=${res.areaIndex(street)}"]`, short(street));
  await page.evaluate(() => { document.getElementById("tree").scrollTop = 0; });
  const other = houses[houses.length - 2].name;
  await clickTo(page, `#view .links a[href="#area=${res.areaIndex(other)}"]`, short(other));
  assert.ok(await visibleInTree(page, res.areaIndex(other)), "the selected house is visible in the tree");
  assertClean(problems);
  await page.close();
});

test("an address with #area=N of the last house opens the tree down to it and shows it", async () => {
  const res = run.results;
  const i = res.areaNames.length - 1, name = res.areaNames[i];
  const { page, problems } = await open(browser, `${run.url}#area=${i}`);
  checkArea(await view(page), res, name);
  assert.deepEqual((await tree(page)).filter(e => e.selected).map(e => e.text), [short(name)]);
  assert.ok(await visibleInTree(page, i), "the selected house is visible in the tree");
  assertClean(problems);
  await page.close();
});

test("sampled areas match kpis.json, bills.csv, area_slots.csv and storage.csv", async t => {
  const res = run.results;
  const { page, problems } = await open(browser, run.url);
  const sample = res.areaNames.filter((_, i) => i % 37 === 0 || i === res.areaNames.length - 1);
  let slowest = 0;
  for (const name of sample) {
    const i = res.areaIndex(name);
    slowest = Math.max(slowest, await timed(async () => {
      await page.evaluate(h => { location.hash = h; }, `#area=${i}`);
      await page.waitForFunction(n => document.querySelector("#view .note")?.textContent === n, name);
    }));
    checkArea(await view(page), res, name);
  }
  t.diagnostic(`${sample.length} areas checked; slowest switch ${ms(slowest)}`);
  assertClean(problems);
  await page.close();
});

test("the search of 1,011 areas shows at most 300 and says how many more", async () => {
  const res = run.results;
  const { page, problems } = await open(browser, run.url);
  const hits = q => res.areaNames.filter(n => n.toLowerCase().includes(q));
  await page.fill("#search", "house");
  assert.equal(hits("house").length, 1000);
  const t = await tree(page);
  assert.deepEqual(t.map(e => e.text), hits("house").slice(0, 300));
  assert.equal(await page.textContent("#tree .note"), "700 more; refine the search");

  await page.fill("#search", "house 100");
  const t2 = await tree(page);
  assert.deepEqual(t2.map(e => e.text), hits("house 100"));
  assert.equal(t2.length, 10);
  assert.equal(await page.locator("#tree .note").count(), 0, "no note when every hit is listed");
  await page.click(`#tree a[href="#area=${res.areaIndex(t2[4].text)}"]`);
  await page.waitForFunction(n => document.querySelector("#view .note")?.textContent === n, t2[4].text);
  checkArea(await view(page), res, t2[4].text);
  assertClean(problems);
  await page.close();
});

test("the comparison of 10 streets matches kpis.json and bills.csv", async t => {
  const res = run.results;
  const { page, problems } = await open(browser, run.url);
  const took = await timed(() => clickTo(page, 'nav a[href="#compare"]', `Top-level areas of ${res.areaNames[0]}`));
  checkCompare(await view(page), res);
  t.diagnostic(`comparison view: ${ms(took)}`);
  assertClean(problems);
  await page.close();
});

/** Whether the tree entry of area `i` lies inside the tree's visible box (to a pixel: scroll offsets are whole pixels). */
function visibleInTree(page, i) {
  return page.evaluate(i => {
    const box = document.getElementById("tree").getBoundingClientRect();
    const r = document.getElementById(`n${i}`).getBoundingClientRect();
    return r.height > 0 && r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
  }, i);
}
