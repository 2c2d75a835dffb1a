// Drives the fledge-admin dashboard in the system's Chromium (run by
// ../browser.rs, which serves the page and the rollout). Exits non-zero on
// the first failed check, and when the page logged a console error or a
// request of its failed.
//
// Environment: FLEDGE_URL (the dashboard), FLEDGE_OPEN_URL (the same with
// open reads), FLEDGE_FLEET_URL (open reads through a fleet member),
// FLEDGE_TEST_URL (the test's
// scenario routes), FLEDGE_TOKEN, FLEDGE_ROLLOUT, FLEDGE_SCREENSHOT (a .png
// path), CHROMIUM (the browser binary).

import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { chromium } from "playwright-core";

const started = Date.now();
const log = (...args) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s]`, ...args);
function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}
const URL_ = env("FLEDGE_URL"), TEST = env("FLEDGE_TEST_URL"), TOKEN = env("FLEDGE_TOKEN");
const NAME = env("FLEDGE_ROLLOUT"), SHOT = env("FLEDGE_SCREENSHOT"), BROWSER = env("CHROMIUM");
// Waits are for conditions, with room for a loaded machine.
const WAIT = 30_000;

const problems = [];
const profile = mkdtempSync(join(tmpdir(), "fledge-chromium-"));
let context;

function check(condition, message) {
  if (!condition) throw new Error("check failed: " + message);
  log("ok:", message);
}

// Moves the rollout on (the Rust test ticks its manual clock).
async function advance(query) {
  const res = await fetch(`${TEST}/advance?${query}`, { method: "POST" });
  const body = await res.text();
  if (!res.ok) throw new Error(`advance ${query}: ${res.status} ${body}`);
  log(`advanced (${query}):`, body);
  return JSON.parse(body);
}

// The rollout's status, read through the API with the token.
async function status() {
  const res = await fetch(`${URL_}/rollouts/${NAME}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  if (!res.ok) throw new Error(`status: ${res.status}`);
  return res.json();
}

async function main() {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: BROWSER,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 900 },
    deviceScaleFactor: 1,
  });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on("console", m => { if (m.type() === "error") problems.push(`console error: ${m.text()}`); });
  page.on("pageerror", e => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", r => problems.push(`request failed: ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  page.on("response", r => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`); });

  const card = `section[data-rollout="${NAME}"]`;
  const chart = id => `${card} svg[data-chart="${id}"]`;
  const count = sel => page.locator(sel).count();
  // The number of points of `version` on chart `id`.
  const pointsOf = (id, version) =>
    page.locator(`${chart(id)} path.line[data-version="${version}"]`).getAttribute("data-points").then(Number);
  const waitFor = (fn, arg, what) =>
    page.waitForFunction(fn, arg, { timeout: WAIT }).then(() => log("seen:", what));

  // 1. Reads need the token: the page asks for it and reads nothing.
  await page.goto(URL_);
  await waitFor(() => document.getElementById("status").textContent.includes("token"), null, "the page asks for the token");
  check(await count(card) === 0, "nothing is read before the token is given");

  // 2. The token typed into the page: the whole history loads.
  await page.fill("#token", TOKEN);
  await page.click("#token-use");
  await page.waitForSelector(card);
  await page.waitForSelector(`${chart("p99")} path.line`);
  for (const id of ["throughput", "error_rate", "p50", "p99", "metric-abs_error"]) {
    for (const v of ["v2", "v1"]) {
      const n = await pointsOf(id, v);
      check(n >= 10, `chart ${id} has ${n} points for ${v} (the 12 s before the page opened)`);
    }
  }
  check(await count(`${chart("p99")} line.limit[data-limit="p99 < 50ms"]`) === 1, "the p99 chart draws the gate's 50 ms limit");
  check(await count(`${chart("metric-abs_error")} line.limit`) === 1, "the feedback metric's chart draws its limit");
  check(await count(`${card} table[data-role="figures"] tr[data-version]`) === 2, "the current step's table has a row per version");
  const phase = () => page.locator(`${card} [data-role="phase"]`).textContent();
  check(await phase() === "progressing", "the status shows progressing");
  const steps0 = await count(`${chart("throughput")} line.marker.step_taken`);

  // 3. A step: the marker appears on the time axis, and a pass verdict with it.
  const passes0 = await count(`${chart("throughput")} path.verdict.pass`);
  await advance("step=1&then=3");
  await waitFor(([sel, n]) => document.querySelectorAll(sel).length > n,
                [`${chart("throughput")} line.marker.step_taken`, steps0], "a step marker after the step");
  check(await count(`${chart("p99")} line.marker.step_taken`) > steps0, "every chart marks the step");
  check(await count(`${chart("throughput")} path.verdict.pass`) > passes0, "the verdict that took the step is marked: pass");
  await waitFor(sel => document.querySelector(sel)?.classList.contains("current"),
                `${card} .timeline .step[data-step="1"]`, "the timeline shows step 2 as current");

  // 4. Commands with the token typed into the page: a rollback needs a
  //    reason; pause, checked on the page and through the API; resume.
  await page.click(`${card} button[data-command="rollback"]`);
  check((await page.locator(`${card} .result`).textContent()).includes("needs a reason"), "a rollback without a reason is not sent");
  await page.fill(`${card} input[aria-label="reason"]`, "browser test: hold at 25 %");
  await page.click(`${card} button[data-command="pause"]`);
  await waitFor(sel => document.querySelector(sel)?.textContent === "paused", `${card} [data-role="phase"]`, "the status shows paused");
  check((await status()).phase.name === "paused", "the API says paused too");
  check((await page.locator(`${card} .result`).textContent()).startsWith("pause:"), "the page says what the command did");
  await waitFor(sel => document.querySelectorAll(sel).length > 0, `${chart("throughput")} line.marker.paused`, "a pause marker");
  await page.click(`${card} button[data-command="resume"]`);
  await waitFor(sel => document.querySelector(sel)?.textContent === "progressing", `${card} [data-role="phase"]`, "progressing again after resume");
  check((await status()).phase.name === "progressing", "the API says progressing");

  // 5. Another step, some baking, then the screenshot of a several-step rollout.
  const steps1 = await count(`${chart("throughput")} line.marker.step_taken`);
  await advance("step=2&then=9");
  await waitFor(([sel, n]) => document.querySelectorAll(sel).length > n,
                [`${chart("throughput")} line.marker.step_taken`, steps1], "the marker of the step to 50 %");
  const at = await status();
  await waitFor(([sel, n]) => Number(document.querySelector(sel)?.getAttribute("data-points")) >= n,
                [`${chart("throughput")} path.line[data-version="v2"]`, 40], "the ticks at 50 % on the charts");
  check(at.step === 2, "the API says step 3 (50 %)");
  mkdirSync(dirname(SHOT), { recursive: true });
  await page.screenshot({ path: SHOT, fullPage: true });
  log("screenshot:", SHOT);

  // 6. A regression: rolled back within a few ticks; the rollback is marked.
  await advance("regress=true");
  await waitFor(sel => document.querySelectorAll(sel).length > 0, `${chart("throughput")} line.marker.rolled_back`, "the rollback marker");
  check(await count(`${chart("p99")} line.marker.rolled_back`) === 1, "the p99 chart marks the rollback once");
  check(await count(`${chart("p99")} path.verdict.fail`) >= 1, "the failing verdict is marked");
  await waitFor(sel => document.querySelector(sel)?.textContent === "rolled back", `${card} [data-role="phase"]`, "the status shows rolled back");
  check((await status()).phase.name === "rolled_back", "the API says rolled back");
  check(await count(`${card} .timeline .failed`) >= 1, "the timeline shows where it rolled back");

  // 7. Open reads (a second admin router over the same rollout): a new tab
  //    reads without a token, and a command asks for one instead of sending.
  const open = await context.newPage();
  open.setDefaultTimeout(WAIT);
  open.on("console", m => { if (m.type() === "error") problems.push(`console error (open): ${m.text()}`); });
  open.on("pageerror", e => problems.push(`page error (open): ${e.message}`));
  open.on("response", r => { if (r.status() >= 400) problems.push(`HTTP ${r.status()} (open): ${r.url()}`); });
  await open.goto(env("FLEDGE_OPEN_URL"));
  await open.waitForSelector(`${chart("p99")} path.line[data-version="v2"]`);
  check(await open.locator(`${card} [data-role="phase"]`).textContent() === "rolled back", "open reads show the rollout without a token");
  await open.click(`${card} button[data-command="pause"]`);
  check((await open.locator(`${card} .result`).textContent()).includes("admin token"), "a command without a token asks for it");

  // 8. A rollout run by a fleet: the fleet panel lists the replicas, who
  //    leads and who answers, the stale one highlighted; the charts say
  //    whose traffic they show.
  const fleet = await context.newPage();
  fleet.setDefaultTimeout(WAIT);
  fleet.on("console", m => { if (m.type() === "error") problems.push(`console error (fleet): ${m.text()}`); });
  fleet.on("pageerror", e => problems.push(`page error (fleet): ${e.message}`));
  fleet.on("response", r => { if (r.status() >= 400) problems.push(`HTTP ${r.status()} (fleet): ${r.url()}`); });
  await fleet.goto(env("FLEDGE_FLEET_URL"));
  const panel = `${card} [data-role="fleet"]`;
  await fleet.waitForSelector(`${panel} tr[data-replica]`);
  check(await fleet.locator(`${panel} tr[data-replica]`).count() === 3, "the fleet panel has a row per replica");
  check(await fleet.locator(`${panel} tr.stale[data-replica="r2"]`).count() === 1, "the stale replica is highlighted");
  check(await fleet.locator(`${panel} tr.leader[data-replica="r0"]`).count() === 1, "the leader is marked");
  const head = await fleet.locator(`${panel} p`).first().textContent();
  check(head.includes("leader r0") && head.includes("answered by r1") && head.includes("1 stale"), `the panel says ${head}`);
  check((await fleet.locator(`${card} [data-role="history-note"]`).textContent()).includes("replica r1"), "the charts say whose traffic they show");
  check(await fleet.locator(`${card} [data-role="fleet"] h3`).count() === 1, "one fleet heading");
  check(await page.locator(`${card} [data-role="fleet"] tr`).count() === 0, "a one-process rollout has no fleet panel");

  check(problems.length === 0, "no console errors or failed requests" + (problems.length ? ":\n  " + problems.join("\n  ") : ""));
  log("all checks passed");
}

try {
  await main();
} catch (e) {
  console.error(e.stack || String(e));
  if (problems.length) console.error("the page also logged:\n  " + problems.join("\n  "));
  process.exitCode = 1;
} finally {
  await context?.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
