// report.html of the built-in village in headless Chromium: every view, the tree, the search,
// the comparison, the address bar, all checked against the results files of the same run.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { assertClean, clickTo, launch, open, short, simulate, tree, view, waitForHeading } from "./helpers.mjs";
import { checkArea, checkCompare } from "./checks.mjs";

let run, browser;
before(async () => {
  run = simulate(null);
  browser = await launch();
});
after(async () => {
  await browser?.close();
  run?.remove();
});

test("the page loads without console errors, page errors or requests, and shows the root", async () => {
  const { page, problems } = await open(browser, run.url);
  const res = run.results;
  const root = res.kpis.areas[0].name;
  assert.equal(await page.title(), `${root} — nestgrid report`);
  assert.equal(await page.textContent("#title"), res.kpis.scenario);
  const v = await view(page);
  checkArea(v, res, root);
  assert.equal(v.charts.length, 3, "the root has three charts and no storage");
  assertClean(problems);
  await page.close();
});

test("every area's view matches kpis.json, bills.csv, area_slots.csv and storage.csv", async () => {
  const { page, problems } = await open(browser, run.url);
  const res = run.results;
  let storageCharts = 0, evGaps = 0;
  for (const [i, name] of res.areaNames.entries()) {
    await page.evaluate(h => { location.hash = h; }, `#area=${i}`);
    await waitForHeading(page, short(name));
    const v = await view(page);
    const { stores } = checkArea(v, res, name);
    storageCharts += stores.length;
    evGaps += v.charts.slice(3).filter(c => (c.paths[0].match(/M/g) || []).length > 1).length;
  }
  const stores = res.kpis.assets.filter(s => s.kind === "storage" || s.kind === "ev_charger").length;
  assert.equal(storageCharts, stores, "one stored-energy chart per battery and EV charger");
  assert.ok(storageCharts > 0 && evGaps > 0, "the village has batteries and EV chargers whose lines have gaps");
  assertClean(problems);
  await page.close();
});

test("a selected street's view is checked and saved as a screenshot", async () => {
  const { page, problems } = await open(browser, run.url);
  const res = run.results;
  const index = res.areaNames.findIndex(name => name.split("/").length === 2);
  assert.ok(index > 0, "the village has a street");
  const name = res.areaNames[index];
  await page.evaluate(h => { location.hash = h; }, `#area=${index}`);
  await waitForHeading(page, short(name));
  checkArea(await view(page), res, name);
  // Screenshots go to NESTGRID_SCREENSHOTS, or tests/browser/screenshots (not committed).
  const dir = process.env.NESTGRID_SCREENSHOTS || join(import.meta.dirname, "screenshots");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "village-street.png");
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.screenshot({ path, fullPage: true });
  const png = readFileSync(path);
  assert.deepEqual([...png.subarray(1, 4)].map(c => String.fromCharCode(c)).join(""), "PNG");
  assert.ok(png.length > 20_000, `a screenshot with content (${png.length} bytes)`);
  assertClean(problems);
  await page.close();
});

test("the tree opens and closes areas and clicking a name selects it", async () => {
  const { page, problems } = await open(browser, run.url);
  const res = run.results;
  const root = res.kpis.areas[0].name;
  const streets = res.childAreas(root);
  let t = await tree(page);
  assert.deepEqual(t.map(e => e.text), [short(root), ...streets.map(a => short(a.name))], "the root starts open");
  assert.equal(t[0].toggle, "▾");
  assert.ok(t.slice(1).every(e => e.toggle === "▸"), "the streets start closed");
  assert.deepEqual(t.filter(e => e.selected).map(e => e.text), [short(root)], "the root is selected");

  const street = streets[1].name, houses = res.childAreas(street);
  await page.click(`#tree button[data-t="${res.areaIndex(street)}"]`);
  t = await tree(page);
  assert.equal(t.length, 1 + streets.length + houses.length, "opening a street lists its houses");
  assert.deepEqual(t.slice(3, 3 + houses.length).map(e => e.text), houses.map(a => short(a.name)));
  assert.equal(t[2].toggle, "▾");

  const house = houses[houses.length - 1].name;
  await clickTo(page, `#n${res.areaIndex(house)}`, short(house));
  assert.equal(new URL(page.url()).hash, `#area=${res.areaIndex(house)}`);
  t = await tree(page);
  assert.deepEqual(t.filter(e => e.selected).map(e => e.text), [short(house)], "the clicked area is highlighted");
  checkArea(await view(page), res, house);

  await page.click(`#tree button[data-t="${res.areaIndex(street)}"]`);
  t = await tree(page);
  assert.equal(t.length, 1 + streets.length, "closing the street hides its houses");
  assert.equal(t[2].toggle, "▸");
  assertClean(problems);
  await page.close();
});

test("links to areas below and breadcrumbs navigate, and the back button returns", async () => {
  const { page, problems } = await open(browser, run.url);
  const res = run.results;
  const root = res.kpis.areas[0].name;
  const street = res.childAreas(root)[2].name;
  await clickTo(page, `#view .links a[href="#area=${res.areaIndex(street)}"]`, short(street));
  const house = res.childAreas(street)[0].name;
  await clickTo(page, `#view .links a[href="#area=${res.areaIndex(house)}"]`, short(house));
  checkArea(await view(page), res, house);
  assert.deepEqual((await tree(page)).filter(e => e.selected).map(e => e.text), [short(house)]);

  await page.goBack();
  await waitForHeading(page, short(street));
  await clickTo(page, `#view .crumbs a[href="#area=0"]`, short(root));
  await page.goBack();
  await waitForHeading(page, short(street));
  checkArea(await view(page), res, street);
  assertClean(problems);
  await page.close();
});

test("an address with #area=N opens that area, and an unknown one falls back to the root", async () => {
  const res = run.results;
  const name = res.areaNames[res.areaNames.length - 1];
  let { page, problems } = await open(browser, `${run.url}#area=${res.areaNames.length - 1}`);
  checkArea(await view(page), res, name);
  const t = await tree(page);
  assert.deepEqual(t.filter(e => e.selected).map(e => e.text), [short(name)], "the tree opens down to it");
  assertClean(problems);
  await page.close();

  ({ page, problems } = await open(browser, `${run.url}#area=${res.areaNames.length}`));
  assert.equal(await page.textContent("#view h2"), short(res.areaNames[0]));
  assertClean(problems);
  await page.close();
});

test("the search lists every area whose path contains the text", async () => {
  const { page, problems } = await open(browser, run.url);
  const res = run.results;
  const hits = q => res.areaNames.filter(n => n.toLowerCase().includes(q.toLowerCase()));
  for (const q of ["Battery", "street 2/", "EV"]) {
    await page.fill("#search", q);
    const t = await tree(page);
    assert.deepEqual(t.map(e => e.text), hits(q), `search ${q}`);
    assert.ok(t.length > 0);
  }
  await page.fill("#search", "Battery home 2");
  const target = hits("Battery home 2")[1];
  await clickTo(page, `#tree a[href="#area=${res.areaIndex(target)}"]`, short(target));
  assert.equal(await page.getAttribute(`#n${res.areaIndex(target)}`, "class"), "sel", "the hit is highlighted");

  await page.fill("#search", "no such area");
  assert.equal((await tree(page)).length, 0);
  assert.equal(await page.textContent("#tree .note"), "no area matches");
  await page.fill("#search", "");
  const t = await tree(page);
  assert.equal(t[0].text, short(res.areaNames[0]), "clearing the search shows the tree again");
  assert.ok(t.some(e => e.text === short(target) && e.selected), "with the selected area opened");
  assertClean(problems);
  await page.close();
});

test("the comparison view matches kpis.json and bills.csv and its rows link to the areas", async () => {
  const { page, problems } = await open(browser, run.url);
  const res = run.results;
  await clickTo(page, 'nav a[href="#compare"]', `Top-level areas of ${res.areaNames[0]}`);
  assert.equal(new URL(page.url()).hash, "#compare");
  const v = await view(page);
  checkCompare(v, res);
  assert.equal((await tree(page)).filter(e => e.selected).length, 0, "no area is selected");
  const street = res.childAreas(res.areaNames[0])[0].name;
  await clickTo(page, `#view table a[href="#area=${res.areaIndex(street)}"]`, short(street));
  checkArea(await view(page), res, street);
  await page.goBack();
  await waitForHeading(page, `Top-level areas of ${res.areaNames[0]}`);
  assertClean(problems);
  await page.close();
});
