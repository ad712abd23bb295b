// End-to-end: the real `wallboard` binary (with the UI built by `cargo
// xtask ui`) fed by a hand-computed scenario, and a real headless Chromium
// driven by playwright-core. Run by `cargo xtask test` (node --test).
//
// Environment: WALLBOARD_BIN (the server binary), CHROMIUM (the browser),
// ARTIFACTS (where screenshots go).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync, mkdirSync, rmSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { tmpdir } from "node:os";
import { createServer } from "node:net";
import { chromium } from "../../xtask/tools/node_modules/playwright-core/index.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const axeSource = readFileSync(join(root, "xtask/tools/node_modules/axe-core/axe.min.js"), "utf8");
const bin = process.env.WALLBOARD_BIN ?? join(root, "target/debug/wallboard");
const artifacts = process.env.ARTIFACTS ?? join(root, "target/e2e");
mkdirSync(artifacts, { recursive: true });

const scenario = JSON.parse(
  readFileSync(join(root, "tests/scenarios/morning_two_queues.expected.json"), "utf8"),
);
const events = readFileSync(join(root, "tests/scenarios/morning_two_queues.ndjson"), "utf8");
const configPath = join(tmpdir(), `wallboard-e2e-${process.pid}.toml`);
// An Asterisk connection to a port nobody listens on: the source is down.
writeFileSync(
  configPath,
  `${scenario.config}\n[[sources]]\nkind = "asterisk_ami"\nname = "pbx"\nhost = "127.0.0.1"\nport = 9\nusername = "wallboard"\nsecret = "x"\n`,
);
// A journal of its own, empty at the start of the run.
const dataDir = join(tmpdir(), `wallboard-e2e-${process.pid}-data`);
rmSync(dataDir, { recursive: true, force: true });

let server;
let baseUrl;
let browser;

/** A TCP port nobody listens on now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Starts the server (on `port`, or any) and resolves with its URL. */
function startServer(port = 0, { config = configPath, data = dataDir, clockStart = scenario.now } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      bin,
      [
        "--listen", `127.0.0.1:${port}`, "--config", config,
        ...(clockStart ? ["--clock-start", clockStart] : []),
        ...(data ? ["--data-dir", data] : []),
      ],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: "info" } },
    );
    let log = "";
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 15000);
    const onData = (chunk) => {
      log += chunk;
      const m = log.match(/listening on (http:\/\/[0-9.:]+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1] });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`server exited (${code}):\n${log}`)));
  });
}

async function post(body) {
  const r = await fetch(`${baseUrl}/api/v1/events`, {
    method: "POST",
    headers: { "content-type": "application/x-ndjson" },
    body,
  });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  return JSON.parse(text);
}

/** What a tile must show for a KPI, formatted as the UI does. */
function shown(key, value) {
  if (value === null || value === undefined) return "—";
  if (key === "satisfaction") return value.toFixed(1);
  if (key === "asa_seconds" || key === "aht_seconds") {
    const s = Math.round(value);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }
  return `${(value * 100).toFixed(1)}%`;
}

const TILES = [
  "system_connect_rate", "agent_connect_rate", "fcr", "satisfaction",
  "complaint_response_rate", "service_level", "abandon_rate", "asa_seconds",
];

async function openPage(query, viewport = { width: 1920, height: 1080 }, options = {}) {
  const page = await browser.newPage({ viewport, ...options });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.errors = errors;
  const started = Date.now();
  await page.goto(`${baseUrl}/${query}`);
  await page.waitForFunction(
    () => document.querySelector(".freshness")?.dataset.state === "live",
    null, { timeout: 10000 },
  );
  page.firstRenderMs = Date.now() - started;
  return page;
}

async function assertTiles(page, today = scenario.board.totals.today) {
  for (const key of TILES) {
    const tile = page.locator(`.tile[data-kpi="${key}"]`);
    const expected = today[key] ?? { value: null, status: "none" };
    await assert.doesNotReject(
      tile.locator(".tile-value").filter({ hasText: shown(key, expected.value) }).waitFor({ timeout: 3000 }),
      `${key} shows ${shown(key, expected.value)}`,
    );
    assert.equal(await tile.getAttribute("data-status"), expected.status, `${key} status`);
    // A sparkline of the last hour, with the target line.
    assert.equal(await tile.locator("svg.spark polyline").count(), 1, `${key} sparkline`);
    // Colour is not the only signal: an icon and a word go with it.
    const statusText = await tile.locator(".tile-status").innerText();
    assert.ok(statusText.trim().length > 2, `${key} status text: ${statusText}`);
  }
}

before(async () => {
  ({ child: server, url: baseUrl } = await startServer());
  const reply = await post(events);
  assert.equal(reply.rejected.length, 0, JSON.stringify(reply));
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu"],
  });
});

after(async () => {
  await browser?.close();
  server?.kill("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
});

test("the floor shows the hand-computed KPIs with their statuses", async () => {
  const page = await openPage("?lang=en&window=today");
  console.log(`# first render (page load to live board): ${page.firstRenderMs} ms`);
  await assertTiles(page);
  assert.equal(await page.locator('tr[data-queue="billing"] .name').innerText(), "Billing");
  // The trend of the last hour, as the server computed it, is drawn.
  const trend = await (await fetch(`${baseUrl}/api/v1/board`)).json();
  const drawn = trend.trend.agent_connect_rate.filter((v) => v !== null).length;
  assert.ok(drawn > 0, "the scenario has connect-rate data in the last hour");
  const points = await page.locator('.tile[data-kpi="agent_connect_rate"] svg.spark polyline')
    .getAttribute("points");
  assert.equal(points.trim().split(/\s+/).length, drawn, points);
  assert.equal(await page.locator('.count[data-state="aux"] .n').innerText(), "1");
  assert.equal(await page.locator(".agent").count(), 3, "three agents signed in");
  // Time in state counts on the server's clock (here a recorded morning),
  // not the browser's: minutes, not hours.
  for (const t of await page.locator(".agent-time").allInnerTexts()) {
    assert.match(t, /^\d{1,2}:\d{2}$/, `time in state ${t}`);
  }
  await page.screenshot({ path: join(artifacts, "floor-en.png") });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("Chinese labels, queue names from config, and a 4K TV", async () => {
  const page = await openPage("?lang=en");
  await page.click("button.lang");
  await page.locator('.tile[data-kpi="agent_connect_rate"] .tile-label')
    .filter({ hasText: "人工接通率" }).waitFor({ timeout: 2000 });
  assert.equal(await page.locator('tr[data-queue="billing"] .name').innerText(), "话费账单");
  assert.equal(await page.getAttribute("html", "lang"), "zh-CN");
  assert.match(await page.locator('.tile[data-kpi="abandon_rate"] .tile-status').innerText(), /未达标/);
  await page.screenshot({ path: join(artifacts, "floor-zh.png") });
  await page.close();
  const tv = await openPage("?lang=zh&kiosk=1", { width: 3840, height: 2160 });
  assert.equal(await tv.locator("button.lang").count(), 0, "no controls in kiosk mode");
  await assertTiles(tv);
  await tv.screenshot({ path: join(artifacts, "floor-zh-4k.png") });
  await tv.close();
});

test("a telephony connection that is down is shown on the board", async () => {
  const page = await openPage("?lang=en");
  const banner = page.locator(".sources-down");
  await banner.waitFor({ timeout: 3000 });
  assert.match(await banner.innerText(), /Source down:.*pbx/);
  assert.equal(await banner.getAttribute("role"), "alert");
  await page.close();
});

test("kiosk rotation moves between pages", async () => {
  const page = await openPage("?lang=en&kiosk=1&rotate=3&pages=queues,agents");
  const main = page.locator("main.floor");
  assert.equal(await main.getAttribute("data-page"), "queues");
  assert.equal(await page.locator(".agent:visible").count(), 0);
  await page.waitForFunction(
    () => document.querySelector("main.floor")?.dataset.page === "agents", null, { timeout: 5000 },
  );
  assert.equal(await page.locator(".agent:visible").count(), 3);
  await page.close();
});

test("the agent view shows queues and the team's rate, never other agents", async () => {
  const page = await openPage("?view=agent&lang=en&queue=billing");
  const strip = page.locator("main.strip");
  await strip.locator('.strip-queue[data-queue="billing"]').waitFor();
  assert.equal(await page.locator(".agent").count(), 0);
  const html = await page.content();
  for (const name of ["王芳", "李娜", "张敏"]) {
    assert.ok(!html.includes(name), `${name} must not reach an agent's screen`);
  }
  const billing = scenario.board.queues.billing.windows.today.agent_connect_rate;
  assert.equal(
    await page.locator(".strip-team .value").innerText(),
    shown("agent_connect_rate", billing.value),
  );
  await page.screenshot({ path: join(artifacts, "agent-en.png") });
  await page.close();
});

test("a POSTed event shows up within a second, without reload", async () => {
  const page = await openPage("?lang=en");
  const waiting = page.locator('tr[data-queue="billing"] .waiting');
  const before = Number(await waiting.innerText());
  const posted = Date.now();
  await post(JSON.stringify({
    id: "e2e-offer-1", ts: scenario.now, type: "contact_offered",
    contact: "e2e-c1", queue: "billing",
  }));
  await page.waitForFunction(
    (n) => Number(document.querySelector('tr[data-queue="billing"] .waiting')?.innerText) === n,
    before + 1, { timeout: 1000 },
  );
  console.log(`# POST to screen: ${Date.now() - posted} ms`);
  // The longest wait ticks on the client.
  const first = await page.locator('tr[data-queue="billing"] .longest').innerText();
  await page.waitForFunction(
    (t) => document.querySelector('tr[data-queue="billing"] .longest')?.innerText !== t,
    first, { timeout: 3000 },
  );
  await page.close();
});

/** `scenario.now` moved by `seconds` (negative: earlier), as RFC 3339. */
function at(seconds) {
  return new Date(Date.parse(scenario.now) + seconds * 1000).toISOString();
}

test("agents needing attention come first; queues keep the config's order", async () => {
  await post([
    { id: "e2e-x1", ts: at(-15 * 60), type: "agent_state", agent: "x1", name: "Over Limit",
      state: "aux", reason: "meeting", queues: ["billing"] },
    { id: "e2e-x2", ts: at(-60), type: "agent_state", agent: "x2", name: "Wrapping",
      state: "wrap_up", queues: ["vip"] },
  ].map((e) => JSON.stringify(e)).join("\n"));
  const page = await openPage("?lang=en");
  await page.locator('.agent[data-agent="x1"]').waitFor({ timeout: 3000 });
  const order = await page.locator(".agent").evaluateAll((els) => els.map((e) => e.dataset.agent));
  // Over its 10-minute aux limit first; then aux (a1, at lunch 2–3 min),
  // wrap-up, then the available agents, longest first.
  assert.deepEqual(order, ["x1", "a1", "x2", "a2", "a3"]);
  const over = page.locator('.agent[data-agent="x1"]');
  assert.ok(await over.evaluate((e) => e.classList.contains("over")), "x1 is marked over its limit");
  // Marked by shape too (⚠ after the state), and in words for screen readers.
  assert.equal(await over.locator(".over-word").textContent(), "Over limit");
  assert.equal(
    await over.locator(".agent-state").evaluate((e) => getComputedStyle(e, "::after").content), '" ⚠"',
  );
  assert.equal(await page.locator(".agent.over").count(), 1, "only x1 is over a limit");
  // A known aux reason reads in the viewer's language, under a neutral label.
  assert.match(await over.locator(".agent-detail").innerText(), /Reason: Meeting/);
  // State is a shape as well as a colour.
  const marks = await page.locator(".agent .state-mark").allInnerTexts();
  assert.equal(new Set(marks).size, 3, `aux, wrap-up and available have their own marks: ${marks}`);
  // Queues: billing (listed in the config) then vip, however busy vip gets.
  const rows = () => page.locator("tr[data-queue]").evaluateAll((els) => els.map((e) => e.dataset.queue));
  assert.deepEqual(await rows(), ["billing", "vip"]);
  const vipBefore = Number(await page.locator('tr[data-queue="vip"] .waiting').innerText());
  await post([1, 2, 3].map((i) => JSON.stringify({
    id: `e2e-vip-offer-${i}`, ts: scenario.now, type: "contact_offered", contact: `e2e-v${i}`, queue: "vip",
  })).join("\n"));
  await page.waitForFunction(
    (n) => Number(document.querySelector('tr[data-queue="vip"] .waiting')?.innerText) === n,
    vipBefore + 3, { timeout: 2000 },
  );
  assert.deepEqual(await rows(), ["billing", "vip"], "a busier queue does not move up");
  await page.screenshot({ path: join(artifacts, "floor-attention-en.png") });
  const zh = await openPage("?lang=zh");
  await zh.locator('.agent[data-agent="x1"]').waitFor({ timeout: 3000 });
  assert.match(await zh.locator('.agent[data-agent="x1"] .agent-detail').innerText(), /原因：会议/);
  assert.equal(await zh.locator('.agent[data-agent="x1"] .over-word').textContent(), "超时");
  await zh.screenshot({ path: join(artifacts, "floor-attention-zh.png") });
  assert.deepEqual([...page.errors, ...zh.errors], []);
  await zh.close();
  await page.close();
});

/** Deuteranopia (Machado et al. 2009, severity 1) of an `rgb(r, g, b)`. */
function deuteranopia(css) {
  const [r, g, b] = css.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number);
  return [
    0.367322 * r + 0.860646 * g - 0.227968 * b,
    0.280085 * r + 0.672501 * g + 0.047413 * b,
    -0.01182 * r + 0.04294 * g + 0.968881 * b,
  ].map((v) => Math.round(Math.min(255, Math.max(0, v))));
}

test("each agent state and status reads by shape and word, not only colour (deuteranopia)", async () => {
  const states = ["available", "on_contact", "wrap_up", "aux"];
  await post(states.map((state, i) => JSON.stringify({
    id: `e2e-cvd-${i}`, ts: at(-30), type: "agent_state", agent: `cvd${i}`, name: `CVD ${i}`,
    state, queues: ["cvd"], ...(state === "aux" ? { reason: "training" } : {}),
  })).join("\n"));
  const page = await openPage("?lang=en&view=queue&queue=cvd");
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Emulation.setEmulatedVisionDeficiency", { type: "deuteranopia" });
  await page.locator('.agent[data-agent="cvd3"]').waitFor();
  await page.screenshot({ path: join(artifacts, "floor-deuteranopia-en.png") });
  const cards = await page.locator(".agent").evaluateAll((els) => els.map((e) => ({
    state: e.dataset.state,
    mark: e.querySelector(".state-mark").textContent.trim(),
    word: e.querySelector(".agent-state").innerText.replace(e.querySelector(".state-mark").textContent, "").trim(),
    colour: getComputedStyle(e).borderTopColor,
  })));
  assert.deepEqual(cards.map((c) => c.state).sort(), [...states].sort());
  const distinct = (key) => new Set(cards.map((c) => c[key])).size;
  assert.equal(distinct("mark"), states.length, `one shape per state: ${JSON.stringify(cards)}`);
  assert.equal(distinct("word"), states.length, `one word per state: ${JSON.stringify(cards)}`);
  assert.ok(cards.every((c) => c.mark && c.word), JSON.stringify(cards));
  // And the colours themselves: no pair a deuteranope would confuse
  // (simulated colours at least 60 apart in RGB).
  const seen = cards.map((c) => ({ state: c.state, as: deuteranopia(c.colour) }));
  const close = [];
  for (let i = 0; i < seen.length; i++) {
    for (let j = i + 1; j < seen.length; j++) {
      const d = Math.hypot(...seen[i].as.map((v, k) => v - seen[j].as[k]));
      if (d < 60) close.push(`${seen[i].state}/${seen[j].state} (${Math.round(d)})`);
    }
  }
  console.log(`# deuteranopia: colours alone close for ${close.join(", ") || "no pair"}; shapes and words differ for all`);
  assert.deepEqual(close, [], "state colours stay apart under deuteranopia too");
  // Statuses: each with its own icon and word beside the colour.
  const statuses = await page.locator(".tile[data-status]").evaluateAll((els) => els
    .filter((e) => ["ok", "warn", "breach"].includes(e.dataset.status))
    .map((e) => [e.dataset.status, e.querySelector(".tile-status").innerText.trim()]));
  const byStatus = new Map(statuses);
  assert.equal(new Set(byStatus.values()).size, byStatus.size, JSON.stringify(statuses));
  for (const [status, text] of byStatus) assert.ok(text.length >= 2, `${status}: ${text}`);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("a one-queue view shows and names that queue's figures; sound=1 starts with sound on", async () => {
  const page = await openPage("?lang=en&view=queue&queue=billing&sound=1");
  assert.equal(await page.locator("header .scope").innerText(), "Billing");
  const billing = scenario.board.queues.billing.windows.today;
  const tile = page.locator('.tile[data-kpi="agent_connect_rate"] .tile-value');
  await tile.filter({ hasText: shown("agent_connect_rate", billing.agent_connect_rate.value) })
    .waitFor({ timeout: 3000 });
  assert.equal(await page.locator("button.sound").innerText(), "Sound: on");
  await page.close();
});

test("the agent strip labels its numbers, puts the agent's own queue first, has a heading", async () => {
  const page = await openPage("?view=agent&lang=en&queue=vip");
  const first = page.locator(".strip-queue").first();
  await first.waitFor();
  assert.equal(await first.getAttribute("data-queue"), "vip");
  assert.match(await first.innerText(), /Waiting/);
  assert.match(await first.innerText(), /Longest wait/);
  assert.equal(await page.locator("h1").count(), 1);
  await page.close();
});

test("the overview shows counts, handle time and occupancy, and lists alerts as they happen", async () => {
  const page = await openPage("?lang=en&window=today");
  const board = await (await fetch(`${baseUrl}/api/v1/board`)).json();
  const today = board.totals.today;
  for (const key of ["offered", "answered", "abandoned"]) {
    assert.equal(
      await page.locator(`.figure[data-figure="${key}"] b`).innerText(), String(today[key]), key,
    );
  }
  for (const key of ["aht_seconds", "occupancy"]) {
    assert.equal(
      await page.locator(`.figure[data-figure="${key}"] b`).innerText(), shown(key, today[key].value), key,
    );
  }
  assert.match(await page.locator(".alerts").innerText(), /No alerts since this screen started/);
  // A complaint already past its due time: complaint response goes from
  // no data to breach, and the screen lists it.
  await post(JSON.stringify({
    id: "e2e-complaint-1", ts: at(-120), type: "complaint_opened", complaint: "e2e-k1",
    queue: "billing", due: at(-60),
  }));
  const item = page.locator(".alerts li").filter({ hasText: "Complaint response" });
  await item.waitFor({ timeout: 3000 });
  assert.match(await item.innerText(), /Breach/);
  assert.equal(await item.getAttribute("data-status"), "breach");
  await page.close();
});

/** axe-core's serious and critical findings on `page` (WCAG 2 A/AA). */
async function accessibilityProblems(page) {
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "best-practice"] } });
    return r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
    }));
  });
  return result.filter((v) => v.impact === "serious" || v.impact === "critical");
}

test("every page and view passes axe-core in both languages, and has a heading", async () => {
  // Each with the name of its screenshot (target/e2e/page-NAME-LANG.png).
  const pages = {
    floor: "?", overview: "?kiosk=1&rotate=60&pages=overview", queues: "?kiosk=1&rotate=60&pages=queues",
    agents: "?kiosk=1&rotate=60&pages=agents", "queue-view": "?view=queue&queue=billing",
    "agent-strip": "?view=agent&queue=billing",
  };
  let checked = 0;
  for (const lang of ["en", "zh"]) {
    for (const [name, query] of Object.entries(pages)) {
      // The page's CSP forbids inline scripts (axe is one): bypassed here only.
      const page = await openPage(`${query}&lang=${lang}`, undefined, { bypassCSP: true });
      await page.waitForTimeout(300);
      const problems = await accessibilityProblems(page);
      assert.deepEqual(problems, [], `${query}&lang=${lang}: ${JSON.stringify(problems, null, 1)}`);
      assert.equal(await page.locator("h1").count(), 1, `${query}&lang=${lang} has one <h1>`);
      await page.screenshot({ path: join(artifacts, `page-${name}-${lang}.png`) });
      checked += 1;
      await page.close();
    }
  }
  console.log(`# axe-core: ${checked} pages, 0 serious or critical violations`);
  // The check can fail: an image without a text alternative is reported.
  const control = await openPage("?lang=en", undefined, { bypassCSP: true });
  await control.evaluate(() => document.body.appendChild(document.createElement("img")));
  const found = await accessibilityProblems(control);
  assert.ok(found.some((v) => v.id === "image-alt"), JSON.stringify(found));
  await control.close();
});

test("a killed server shows reconnecting, then live again with the same values", async () => {
  const page = await openPage("?lang=en");
  const port = new URL(baseUrl).port;
  const before = await (await fetch(`${baseUrl}/api/v1/board`)).json();
  server.kill("SIGKILL");
  await page.waitForFunction(
    () => ["reconnecting", "stale"].includes(document.querySelector(".freshness")?.dataset.state),
    null, { timeout: 5000 },
  );
  await page.waitForFunction(
    () => document.querySelector("main.floor")?.classList.contains("stale"), null, { timeout: 5000 },
  );
  // The page says how old its data is, its clocks stop, and the indicator
  // keeps its own colour (the grey-out is for the data only).
  await page.waitForFunction(
    () => /data \d+ s old/.test(document.querySelector(".freshness-text")?.innerText ?? ""),
    null, { timeout: 5000 },
  );
  // By agent: the lists may re-page meanwhile (the header's longer text).
  const times = () => page.locator(".agent").evaluateAll((els) => Object.fromEntries(
    els.map((e) => [e.dataset.agent, e.querySelector(".agent-time").innerText]),
  ));
  const frozen = await times();
  await page.waitForTimeout(2200);
  const later = await times();
  const both = Object.keys(frozen).filter((id) => id in later);
  assert.ok(both.length >= 3, `agents on screen both times: ${both}`);
  for (const id of both) {
    assert.equal(later[id], frozen[id], `${id}: time in state does not count on frozen data`);
  }
  assert.equal(
    await page.locator("header").evaluate((e) => getComputedStyle(e).filter), "none",
    "the header (and its indicator) is not greyed out",
  );
  // Let the backoff grow (several failed attempts) before the server returns.
  await page.waitForTimeout(4000);
  ({ child: server } = await startServer(port));
  const back = Date.now();
  // The journal brought everything back: the scenario again is duplicates.
  const again = await post(events);
  assert.equal(again.accepted, 0, JSON.stringify(again));
  await page.waitForFunction(
    () => document.querySelector(".freshness")?.dataset.state === "live", null, { timeout: 15000 },
  );
  const reconnectMs = Date.now() - back;
  console.log(`# reconnect after the server is back: ${reconnectMs} ms`);
  assert.ok(reconnectMs <= 2000, `live again ${reconnectMs} ms after the server was back`);
  await assertTiles(page, before.totals.today);
  assert.equal(
    await page.locator('tr[data-queue="billing"] .waiting').innerText(),
    String(before.queues.billing.waiting),
  );
  await page.close();
});

/** Waits (15 s at most) until the page is live on the server `host`. */
async function liveOn(page, host, messages = []) {
  await page.waitForFunction(
    (host) => {
      const f = document.querySelector(".freshness");
      return f?.dataset.state === "live" && f.dataset.server === host;
    },
    host, { timeout: 15000 },
  ).catch(async () => {
    const f = await page.locator(".freshness").evaluate((el) => [el.dataset.state, el.dataset.server, el.innerText]);
    throw new Error(`not live on ${host}: ${f}; console: ${messages.join(" | ")}`);
  });
}

test("given several servers, a page whose server dies reads from the next", async () => {
  // Two servers of their own, each naming the other in allowed_origins
  // (A's page may connect to B; B lets A's pages in).
  const dataA = join(tmpdir(), `wallboard-e2e-${process.pid}-a`);
  const dataB = join(tmpdir(), `wallboard-e2e-${process.pid}-b`);
  rmSync(dataA, { recursive: true, force: true });
  rmSync(dataB, { recursive: true, force: true });
  const portA = await freePort();
  const configB = join(tmpdir(), `wallboard-e2e-${process.pid}-b.toml`);
  writeFileSync(configB, `${scenario.config}\n[auth]\nallowed_origins = ["http://127.0.0.1:${portA}"]\n`);
  const b = await startServer(0, { config: configB, data: dataB });
  const configA = join(tmpdir(), `wallboard-e2e-${process.pid}-a.toml`);
  writeFileSync(configA, `${scenario.config}\n[auth]\nallowed_origins = ["${b.url}"]\n`);
  const a = await startServer(portA, { config: configA, data: dataA });
  try {
    // B alone has the morning: the page can tell which server it reads.
    const r = await fetch(`${b.url}/api/v1/events`, {
      method: "POST", headers: { "content-type": "application/x-ndjson" }, body: events,
    });
    assert.equal(r.status, 200, await r.text());
    const hostA = new URL(a.url).host;
    const hostB = new URL(b.url).host;
    const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
    const errors = [];
    const messages = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => messages.push(m.text()));
    await page.goto(`${a.url}/?lang=en&servers=${hostA},${hostB}`);
    const live = () => page.waitForFunction(
      () => document.querySelector(".freshness")?.dataset.state === "live", null, { timeout: 10000 },
    );
    await live();
    assert.equal(await page.locator(".freshness").getAttribute("data-server"), hostA);
    assert.equal(
      await page.locator('.tile[data-kpi="service_level"] .tile-value').innerText(), "—",
      "A has no morning",
    );
    a.child.kill("SIGKILL");
    const killed = Date.now();
    await liveOn(page, hostB, messages);
    const failoverMs = Date.now() - killed;
    console.log(`# live on the second server ${failoverMs} ms after the first died`);
    assert.ok(failoverMs <= 3000, `failover took ${failoverMs} ms`);
    await assertTiles(page);
    assert.deepEqual(errors, []);
    await page.close();
  } finally {
    a.child.kill("SIGKILL");
    b.child.kill("SIGKILL");
  }
});

test("on a cluster, a page whose node dies reads from another node and asks it for nothing older", async () => {
  // One JetStream server and two nodes on it, each letting the other's
  // pages in; both on the real clock (the stream's time is now).
  const natsPort = await freePort();
  const store = join(tmpdir(), `wallboard-e2e-${process.pid}-nats`);
  rmSync(store, { recursive: true, force: true });
  const nats = spawn(process.env.NATS_SERVER ?? "nats-server",
    ["-js", "-sd", store, "-a", "127.0.0.1", "-p", String(natsPort)], { stdio: "ignore" });
  const [portA, portB] = [await freePort(), await freePort()];
  const node = (name, other) => {
    const config = join(tmpdir(), `wallboard-e2e-${process.pid}-node-${name}.toml`);
    writeFileSync(config, `timezone = "Asia/Shanghai"\n[auth]\nallowed_origins = ["http://127.0.0.1:${other}"]\n`
      + `[cluster]\nnats = ["nats://127.0.0.1:${natsPort}"]\nreplicas = 1\nnode = "${name}"\n`);
    return config;
  };
  let a;
  let b;
  try {
    a = await startServer(portA, { config: node("a", portB), data: null, clockStart: null });
    b = await startServer(portB, { config: node("b", portA), data: null, clockStart: null });
    const offers = (tag, n) => Array.from({ length: n }, (_, i) => JSON.stringify({
      id: `${tag}${i}`, ts: new Date().toISOString(), type: "contact_offered",
      contact: `${tag}-c${i}`, queue: "billing",
    })).join("\n");
    const postTo = async (url, body) => {
      const r = await fetch(`${url}/api/v1/events`, {
        method: "POST", headers: { "content-type": "application/x-ndjson" }, body,
      });
      assert.equal(r.status, 200, await r.text());
    };
    await postTo(b.url, offers("x", 3));
    const [hostA, hostB] = [new URL(a.url).host, new URL(b.url).host];
    const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
    const errors = [];
    const sockets = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("websocket", (ws) => sockets.push(ws.url()));
    await page.goto(`${a.url}/?lang=en&servers=${hostA},${hostB}`);
    const waiting = (n) => page.waitForFunction(
      (n) => document.querySelector('tr[data-queue="billing"] .waiting')?.textContent === String(n),
      n, { timeout: 10000 },
    );
    await waiting(3);
    await postTo(a.url, offers("y", 2));
    await waiting(5);
    const seen = (await (await fetch(`${a.url}/api/v1/board`)).json()).cluster;
    assert.equal(seen.node, "a");
    a.child.kill("SIGKILL");
    const killed = Date.now();
    await liveOn(page, hostB);
    const failoverMs = Date.now() - killed;
    console.log(`# cluster: live on the other node ${failoverMs} ms after the first died`);
    // It asked the other node for a board at least as far as the one it had.
    const toB = sockets.filter((u) => u.includes(hostB));
    assert.ok(toB.length > 0, sockets.join(" "));
    const after = new URL(toB.at(-1)).searchParams.get("after");
    const [epoch, applied] = after.split(":");
    assert.equal(epoch, seen.epoch);
    assert.ok(Number(applied) >= seen.applied, `${after} against ${JSON.stringify(seen)}`);
    // And it goes on: what enters the other node shows.
    await postTo(b.url, offers("z", 1));
    await waiting(6);
    assert.deepEqual(errors, []);
    await page.close();
  } finally {
    a?.child.kill("SIGKILL");
    b?.child.kill("SIGKILL");
    nats.kill("SIGKILL");
    rmSync(store, { recursive: true, force: true });
  }
});

/**
 * Every element matching `selector` on screen now: its box within the
 * viewport and within `within` (the list's box, which clips), and the
 * ids (`attr`) of those that are.
 */
async function visibleIds(page, selector, within, attr) {
  return page.evaluate(([selector, within, attr]) => {
    const box = document.querySelector(within)?.getBoundingClientRect();
    const seen = [];
    const cut = [];
    const truncated = [];
    for (const el of document.querySelectorAll(selector)) {
      // Laid out to be measured, or on a page not shown: neither seen nor cut.
      if (getComputedStyle(el).visibility === "hidden" || el.getClientRects().length === 0) continue;
      const r = el.getBoundingClientRect();
      const inside = box && r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5
        && r.left >= box.left - 0.5 && r.right <= box.right + 0.5
        && r.bottom <= innerHeight + 0.5 && r.right <= innerWidth + 0.5 && r.width > 0;
      (inside ? seen : cut).push(el.getAttribute(attr));
      // A name cut short with an ellipsis is not shown whole either.
      const name = el.querySelector(".agent-name, td.name");
      if (name && name.scrollWidth > name.clientWidth + 1) truncated.push(el.getAttribute(attr));
    }
    return { seen, cut, truncated };
  }, [selector, within, attr]);
}

/**
 * A floor of `size` agents (four in five signed in) over 12 queues, to add
 * to the scenario's (posting it again changes nothing: the ids are the
 * same; a larger one adds the rest).
 */
function bigFloor(size = 400) {
  const states = ["available", "on_contact", "wrap_up", "aux", "offline"];
  const lines = [];
  for (let i = 0; i < size; i++) {
    const q = `q${String(i % 12).padStart(2, "0")}`;
    lines.push(JSON.stringify({
      id: `e2e-floor-${i}`, ts: at(-600 + (i % 300)), type: "agent_state", agent: `f${i}`,
      name: `Agent ${i}`, state: states[i % 5], queues: [q],
      ...(states[i % 5] === "aux" ? { reason: "break" } : {}),
    }));
  }
  return lines.join("\n");
}

test("a TV shows every queue and every signed-in agent whole within a minute, large enough to read", async () => {
  for (const size of [80, 400]) {
    await post(bigFloor(size));
    const board = await (await fetch(`${baseUrl}/api/v1/board`)).json();
    const agents = Object.entries(board.agents).filter(([, a]) => a.state !== "offline").map(([id]) => id);
    const queues = Object.keys(board.queues);
    assert.ok(agents.length >= size * 0.8 && queues.length >= 14, `${agents.length} agents, ${queues.length} queues`);
    const perPage = {};
    for (const [label, viewport] of [["1080p", { width: 1920, height: 1080 }], ["4k", { width: 3840, height: 2160 }]]) {
      // The default kiosk: no `rotate`, no `pages`.
      const page = await openPage("?lang=en&kiosk=1", viewport);
      const seenAgents = new Set();
      const seenQueues = new Set();
      let cut = [];
      let truncated = [];
      let cardsPerPage = 0;
      const started = Date.now();
      // Sample the screen until every agent and queue was shown whole (or
      // well past the minute a cycle may take).
      while (Date.now() - started < 90_000 && (seenAgents.size < agents.length || seenQueues.size < queues.length)) {
        const a = await visibleIds(page, ".agent", ".agents .grid", "data-agent");
        const q = await visibleIds(page, "tr[data-queue]", "section.queues", "data-queue");
        a.seen.forEach((id) => seenAgents.add(id));
        q.seen.forEach((id) => seenQueues.add(id));
        cardsPerPage = Math.max(cardsPerPage, a.seen.length);
        cut = cut.concat(a.cut, q.cut);
        truncated = truncated.concat(a.truncated, q.truncated);
        await page.waitForTimeout(300);
      }
      const cycle = Date.now() - started;
      await page.screenshot({ path: join(artifacts, `tv-${label}-${size}.png`) });
      console.log(`# ${label}, ${size} agents: ${seenAgents.size}/${agents.length} agents and ${seenQueues.size}/${queues.length} queues shown in ${cycle} ms, ${cardsPerPage} cards a page`);
      assert.deepEqual(agents.filter((id) => !seenAgents.has(id)), [], `${label}: agents never shown whole`);
      assert.deepEqual(queues.filter((id) => !seenQueues.has(id)), [], `${label}: queues never shown whole`);
      assert.ok(cycle <= 60_000, `${label}, ${size} agents: a whole cycle took ${cycle} ms`);
      assert.deepEqual(cut, [], `${label}: nothing is rendered cut off`);
      assert.deepEqual([...new Set(truncated)], [], `${label}: names shown whole`);
      perPage[label] = cardsPerPage;
      if (label === "1080p" && size === 400) {
        // The page says which page it is.
        const pageOf = await page.locator(".page-of:visible").first().innerText();
        assert.match(pageOf, /page \d+\/\d+/);
        // Readable from 5 m: what a supervisor reads is at least 40 px.
        await page.waitForFunction(() => document.querySelector("main.floor")?.dataset.page === "agents", null, { timeout: 60000 });
        const sizes = await page.evaluate(() => Object.fromEntries(
          [".agent-name", ".agent-state", ".agent-time", ".counts", ".page-of"].map((s) => [
            s, parseFloat(getComputedStyle(document.querySelector(s)).fontSize),
          ]),
        ));
        await page.waitForFunction(() => document.querySelector("main.floor")?.dataset.page === "queues", null, { timeout: 60000 });
        Object.assign(sizes, await page.evaluate(() => Object.fromEntries(
          ["th", "td.name", "td.waiting", "td.kpi", "header h1", ".clock"].map((s) => [
            s, parseFloat(getComputedStyle(document.querySelector(s)).fontSize),
          ]),
        )));
        for (const [selector, px] of Object.entries(sizes)) {
          assert.ok(px >= 40, `${selector} is ${px} px on a 1080p TV`);
        }
        // English headers fit on one line (those shown: optional columns
        // the table has no room for are dropped, not squeezed).
        const heights = await page.locator("section.queues th").evaluateAll((ths) => ths
          .filter((t) => t.getClientRects().length > 0)
          .map((t) => t.getBoundingClientRect().height));
        assert.ok(Math.max(...heights) < 2 * Math.min(...heights), `header heights ${heights}`);
      }
      assert.deepEqual(page.errors, []);
      await page.close();
    }
    if (size === 400) {
      assert.ok(perPage["4k"] >= 3 * perPage["1080p"], `4K shows more: ${JSON.stringify(perPage)}`);
    }
  }
});

/** Memory and DOM figures of a page, after a full garbage collection. */
async function footprint(page, cdp) {
  await cdp.send("HeapProfiler.collectGarbage");
  const { usedSize } = await cdp.send("Runtime.getHeapUsage");
  const { nodes, jsEventListeners } = await cdp.send("Memory.getDOMCounters");
  const wasm = await page.evaluate(() => window.wasmMemory?.buffer.byteLength ?? 0);
  return { js: usedSize, wasm, nodes, listeners: jsEventListeners };
}

test("a week on a TV: two simulated hours and over a thousand page turns grow nothing", async () => {
  // The floor of the 400-agent test, served by a stand-in socket that runs
  // on the page's own (simulated) clock: a patch every simulated second.
  await post(bigFloor());
  const board = await (await fetch(`${baseUrl}/api/v1/board`)).json();
  const agents = Object.entries(board.agents).filter(([, a]) => a.state !== "offline").map(([id]) => id);
  assert.ok(agents.length >= 320, `${agents.length} agents on the floor`);
  const start = Date.parse(board.generated_at);
  const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.addInitScript(() => {
    // The app's WebAssembly memory, for the test to read.
    const keep = (instantiate) => async (...args) => {
      const result = await instantiate(...args);
      window.wasmMemory = (result.instance ?? result).exports.memory;
      return result;
    };
    WebAssembly.instantiateStreaming = keep(WebAssembly.instantiateStreaming.bind(WebAssembly));
    WebAssembly.instantiate = keep(WebAssembly.instantiate.bind(WebAssembly));
  });
  await page.clock.install({ time: start });
  let socket = null;
  let connections = 0;
  let seq = 1;
  await page.routeWebSocket(/\/ws\?/, (ws) => {
    connections += 1;
    socket = ws;
    seq += 1;
    ws.send(JSON.stringify({ type: "snapshot", seq, board }));
  });
  await page.goto(`${baseUrl}/?lang=en&kiosk=1&rotate=3&pages=overview,queues,agents`);
  await page.waitForFunction(() => document.querySelector(".freshness")?.dataset.state === "live", null, { timeout: 10000 });
  // Count the page turns: a new screen, or the next page of a list.
  await page.evaluate(() => {
    window.turns = 0;
    const main = document.querySelector("main.floor");
    new MutationObserver(() => { window.turns += 1; })
      .observe(main, { attributes: true, attributeFilter: ["data-page"] });
    let last = "";
    setInterval(() => {
      const label = [...document.querySelectorAll(".page-of:not(.single)")].map((e) => e.textContent).join();
      if (label !== last && main.dataset.page !== "overview") window.turns += label && last ? 1 : 0;
      last = label;
    }, 250);
  });
  // A second past the page's clock now (it ran while the page loaded;
  // on a busy machine that can be more than a second past `start`).
  const pausedAt = (await page.evaluate(() => Date.now())) + 1000;
  await page.clock.pauseAt(pausedAt);
  const states = ["available", "on_contact", "wrap_up", "aux"];
  let now = pausedAt;
  let second = 0;
  /** One simulated second: a patch (three agents change state), then the clock. */
  const tick = async ({ changes = true, extra = {} } = {}) => {
    second += 1;
    now += 1000;
    const patch = { generated_at: new Date(now).toISOString(), seq: seq + 1, ...extra };
    if (changes) {
      patch.agents = {};
      for (let k = 0; k < 3; k++) {
        const id = agents[(second * 3 + k) % agents.length];
        const state = states[(second + k) % states.length];
        patch.agents[id] = {
          state, since: new Date(now).toISOString(), reason: state === "aux" ? "meeting" : null,
        };
      }
      if (second % 10 === 0) {
        patch.queues = { q00: { waiting: second % 7 } };
      }
    }
    seq += 1;
    socket.send(JSON.stringify({ type: "patch", seq, patch }));
    await page.clock.runFor(1000);
  };
  const cdp = await page.context().newCDPSession(page);
  const samples = async (n) => {
    const taken = [];
    for (let i = 0; i < n; i++) {
      for (let s = 0; s < 4; s++) await tick();
      taken.push(await footprint(page, cdp));
    }
    const most = (key) => Math.max(...taken.map((t) => t[key]));
    return { js: most("js"), wasm: most("wasm"), nodes: most("nodes"), listeners: most("listeners") };
  };
  // Ten simulated minutes to settle, then the figures over a minute.
  for (let s = 0; s < 600; s++) await tick();
  const before = await samples(15);
  const turnsBefore = await page.evaluate(() => window.turns);
  const wall = Date.now();
  for (let s = 0; s < 7200; s++) await tick();
  const after = await samples(15);
  const turns = await page.evaluate(() => window.turns) - turnsBefore;
  console.log(`# soak: 2 simulated hours in ${Math.round((Date.now() - wall) / 1000)} s, ${turns} page turns, ${connections} connection(s)`);
  console.log(`# soak before: ${JSON.stringify(before)}`);
  console.log(`# soak after:  ${JSON.stringify(after)}`);
  assert.ok(turns >= 1000, `${turns} page turns`);
  assert.equal(connections, 1, "the page stayed on its one connection");
  assert.equal(await page.locator(".freshness").getAttribute("data-state"), "live");
  // Bounds: the leak (4.7 KB of wasm memory a page turn) would be
  // megabytes here.
  assert.ok(after.wasm - before.wasm <= 512 * 1024, `wasm memory ${before.wasm} → ${after.wasm}`);
  // (The JS heap holds the test's stand-in socket and clock too.)
  assert.ok(after.js - before.js <= 512 * 1024, `JS heap ${before.js} → ${after.js}`);
  assert.ok(after.nodes <= before.nodes * 1.05 + 50, `DOM nodes ${before.nodes} → ${after.nodes}`);
  assert.ok(after.listeners <= before.listeners + 10, `listeners ${before.listeners} → ${after.listeners}`);

  // Only what is on screen is in the page, and a quiet second changes
  // only the visible cards' clocks, once.
  while (await page.evaluate(() => document.querySelector("main.floor").dataset.page) !== "agents") {
    await tick();
  }
  await tick({ changes: false });
  const visible = await page.locator(".agents .grid .agent").count();
  assert.ok(visible > 0 && visible < agents.length, `${visible} cards in the page`);
  await page.evaluate(() => {
    window.changed = 0;
    new MutationObserver((records) => { window.changed += records.length; })
      .observe(document.querySelector(".agents .grid"), { subtree: true, childList: true, characterData: true, attributes: true });
  });
  await tick({ changes: false });
  const changed = await page.evaluate(() => window.changed);
  console.log(`# a quiet second: ${changed} changes to ${visible} visible cards`);
  assert.ok(changed <= visible * 2, `${changed} changes for ${visible} cards in one quiet second`);
  // After all that, a change still reaches the screen.
  await tick({ changes: false, extra: { queues: { q00: { waiting: 77 } } } });
  for (let s = 0; s < 90; s++) {
    if (await page.locator('tr[data-queue="q00"] .waiting:visible').count()) break;
    await tick({ changes: false });
  }
  assert.equal(await page.locator('tr[data-queue="q00"] .waiting').innerText(), "77");
  assert.deepEqual(errors, []);
  await page.close();
});

/** A page of the server at `url` (not the shared one), errors collected. */
async function openAt(url, query, options = {}) {
  const page = await browser.newPage({ viewport: { width: 1920, height: 1080 }, ...options });
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  await page.goto(`${url}/${query}`);
  return page;
}

async function api(url, method, path, body) {
  const r = await fetch(`${url}${path}`, {
    method, headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  assert.equal(r.status, 200, `${method} ${path}: ${text}`);
  return JSON.parse(text);
}

test("a target changed on /admin moves a tile's status on the floor; messages and layouts reach the screens", async () => {
  // A server of its own: the changes here must not reach the other tests.
  const data = join(tmpdir(), `wallboard-e2e-admin-${process.pid}`);
  rmSync(data, { recursive: true, force: true });
  const { child, url } = await startServer(0, { data });
  try {
    const r = await fetch(`${url}/api/v1/events`, {
      method: "POST", headers: { "content-type": "application/x-ndjson" }, body: events,
    });
    assert.equal(r.status, 200, await r.text());
    const floor = await openAt(url, "?lang=en");
    const tile = floor.locator('.tile[data-kpi="abandon_rate"]');
    await floor.waitForFunction(
      () => document.querySelector('.tile[data-kpi="abandon_rate"]')?.dataset.status === "breach",
      null, { timeout: 10000 },
    );

    const admin = await openAt(url, "admin?lang=en");
    const input = admin.locator('input[data-path="targets.abandon_rate"]');
    await input.waitFor({ timeout: 10000 });
    assert.equal(await admin.locator("h1").count(), 1, "the admin page has one <h1>");
    // By keyboard only: focus, type, Enter.
    await input.focus();
    await admin.keyboard.press("Control+A");
    await admin.keyboard.type("30");
    const changed = Date.now();
    await admin.keyboard.press("Enter");
    await admin.locator('[data-field="targets.abandon_rate"].override .override-badge').waitFor({ timeout: 5000 });
    await floor.waitForFunction(
      () => document.querySelector('.tile[data-kpi="abandon_rate"]')?.dataset.status === "ok",
      null, { timeout: 3000 },
    );
    console.log(`# /admin change to the floor tile's new status: ${Date.now() - changed} ms`);
    assert.match(await tile.locator(".tile-target").innerText(), /30\.0%/);
    await admin.locator('table.audit tbody tr[data-path="targets.abandon_rate"]').waitFor({ timeout: 3000 });
    await admin.screenshot({ path: join(artifacts, "admin-en.png"), fullPage: true });

    // A value out of range: the server's reason next to the field, nothing applied.
    const sl = admin.locator('input[data-path="targets.service_level"]');
    await sl.fill("150");
    await admin.click("#save-targets");
    const inline = admin.locator('[id="err-targets.service_level"]');
    await inline.filter({ hasText: "0..=1" }).waitFor({ timeout: 3000 });
    assert.equal(await sl.getAttribute("aria-invalid"), "true");
    const settings = await api(url, "GET", "/api/v1/settings");
    assert.equal(settings.effective.targets.service_level, 0.8, "the refused value was not applied");

    // Reset to the file's value: the breach is back on the floor.
    await admin.click('button.reset[data-reset="targets.abandon_rate"]');
    await floor.waitForFunction(
      () => document.querySelector('.tile[data-kpi="abandon_rate"]')?.dataset.status === "breach",
      null, { timeout: 3000 },
    );

    // A message from the admin page: on the floor as text, never as HTML.
    await admin.fill("#msg-text", "<b>Storm</b> in the north: expect volume");
    await admin.fill("#msg-text-zh", "北区暴雨：话务量上升");
    await admin.selectOption("#msg-severity", "urgent");
    await admin.fill("#msg-minutes", "5");
    await admin.click("#msg-send");
    const banner = floor.locator('.messages .message[data-severity="urgent"] .message-text');
    await banner.waitFor({ timeout: 3000 });
    assert.equal(await banner.innerText(), "<b>Storm</b> in the north: expect volume");
    assert.equal(await floor.locator(".messages b").count(), 0, "never rendered as HTML");
    await floor.screenshot({ path: join(artifacts, "floor-message-en.png") });
    const strip = await openAt(url, "?view=agent&queue=billing&lang=zh");
    await strip.locator(".messages .message .message-text").filter({ hasText: "北区暴雨" })
      .waitFor({ timeout: 5000 });
    await admin.click("#active-messages button.delete-message");
    await floor.locator(".messages .message").waitFor({ state: "detached", timeout: 3000 });
    await strip.locator(".messages .message").waitFor({ state: "detached", timeout: 3000 });
    await strip.close();

    // A TV on a saved layout follows its edits without a reload.
    await api(url, "PUT", "/api/v1/layouts/lobby", { tiles: ["service_level", "abandon_rate"], theme: "dark" });
    const tv = await openAt(url, "?layout=lobby&kiosk=1&lang=en");
    await tv.locator('main.floor[data-layout="lobby"]').waitFor({ timeout: 10000 });
    const order = () => tv.locator("section.tiles > .tile").evaluateAll((els) => els.map((e) => e.dataset.kpi));
    await tv.waitForFunction(
      () => [...document.querySelectorAll("section.tiles > .tile")].map((e) => e.dataset.kpi).join() === "service_level,abandon_rate",
      null, { timeout: 5000 },
    );
    await api(url, "PUT", "/api/v1/layouts/lobby", { tiles: ["agent_connect_rate", "fcr", "service_level"], theme: "light" });
    await tv.waitForFunction(
      () => [...document.querySelectorAll("section.tiles > .tile")].map((e) => e.dataset.kpi).join() === "agent_connect_rate,fcr,service_level"
        && document.documentElement.classList.contains("theme-light"),
      null, { timeout: 5000 },
    );
    assert.deepEqual(await order(), ["agent_connect_rate", "fcr", "service_level"]);
    await tv.screenshot({ path: join(artifacts, "tv-layout-light.png") });
    await api(url, "DELETE", "/api/v1/layouts/lobby");
    await tv.locator('.layout-missing[data-layout="lobby"]').waitFor({ timeout: 5000 });

    // The admin page passes axe-core in both languages.
    for (const lang of ["en", "zh"]) {
      const page = await openAt(url, `admin?lang=${lang}`, { bypassCSP: true });
      await page.locator('input[data-path="targets.abandon_rate"]').waitFor({ timeout: 10000 });
      const problems = await accessibilityProblems(page);
      assert.deepEqual(problems, [], `admin?lang=${lang}: ${JSON.stringify(problems, null, 1)}`);
      if (lang === "zh") await page.screenshot({ path: join(artifacts, "admin-zh.png"), fullPage: true });
      await page.close();
    }
    for (const page of [floor, admin, tv]) {
      assert.deepEqual(page.errors, []);
      await page.close();
    }
  } finally {
    child.kill("SIGKILL");
    rmSync(data, { recursive: true, force: true });
  }
});

test("definitions, callbacks, the forecast, channels and same time yesterday reach the wallboard", async () => {
  // A server of its own: the foresight scenario's floor, a queue counted
  // the Amazon Connect way with a chat callback pending, and a call yesterday.
  const foresight = JSON.parse(
    readFileSync(join(root, "tests/scenarios/foresight_erlang_c.expected.json"), "utf8"),
  );
  const config = join(tmpdir(), `wallboard-e2e-foresight-${process.pid}.toml`);
  writeFileSync(config, `${foresight.config}[[queues]]\nid = "conn"\nname_en = "Web"\nservice_level_definition = "connect"\n`);
  const data = join(tmpdir(), `wallboard-e2e-foresight-${process.pid}-data`);
  rmSync(data, { recursive: true, force: true });
  const { child, url } = await startServer(0, { config, data, clockStart: foresight.now });
  try {
    const extra = [
      { id: "k1", ts: "2026-11-23T10:15:00+08:00", type: "contact_offered", contact: "k1", queue: "conn", channel: "chat" },
      { id: "k2", ts: "2026-11-23T10:15:30+08:00", type: "contact_callback_requested", contact: "k1" },
      { id: "k3", ts: "2026-11-23T10:16:00+08:00", type: "contact_offered", contact: "k3", queue: "conn" },
      { id: "k4", ts: "2026-11-23T10:16:05+08:00", type: "contact_answered", contact: "k3", agent: "b1" },
      { id: "y0", ts: "2026-11-22T10:05:00+08:00", type: "contact_offered", contact: "y0", queue: "sales" },
      { id: "y1", ts: "2026-11-22T10:05:05+08:00", type: "contact_answered", contact: "y0", agent: "a0" },
      // An agent who holds up to three chats, holding two (before the
      // interval report's 10:00-10:30 rows).
      { id: "m0", ts: "2026-11-23T09:45:00+08:00", type: "agent_state", agent: "m1", state: "available", name: "Chat Li", queues: ["conn"], capacity: { chat: 3 } },
      { id: "m1", ts: "2026-11-23T09:50:00+08:00", type: "contact_offered", contact: "m1", queue: "conn", channel: "chat" },
      { id: "m2", ts: "2026-11-23T09:50:00+08:00", type: "contact_offered", contact: "m2", queue: "conn", channel: "chat" },
      { id: "m3", ts: "2026-11-23T09:50:10+08:00", type: "contact_answered", contact: "m1", agent: "m1" },
      { id: "m4", ts: "2026-11-23T09:50:20+08:00", type: "contact_answered", contact: "m2", agent: "m1" },
    ].map((e) => JSON.stringify(e)).join("\n");
    for (const body of [readFileSync(join(root, "tests/scenarios/foresight_erlang_c.ndjson"), "utf8"), extra]) {
      const r = await fetch(`${url}/api/v1/events`, {
        method: "POST", headers: { "content-type": "application/x-ndjson" }, body,
      });
      const text = await r.text();
      assert.equal(r.status, 200, text);
      assert.deepEqual(JSON.parse(text).rejected, [], text);
    }
    // A 4K TV has room for every column of the queue table.
    const tv = await openAt(url, "?kiosk=1&lang=en&window=today", { viewport: { width: 3840, height: 2160 } });
    const sales = tv.locator('tr[data-queue="sales"]');
    await sales.locator("td.agents-needed").filter({ hasText: "4 / 3" }).waitFor({ timeout: 10000 });
    assert.equal(await sales.locator("td.agents-needed").getAttribute("data-status"), "breach", "3 staffed of 4 needed");
    assert.match(await sales.locator("td.estimated-wait").innerText(), /1:0[67]/, "(1 + 1) ÷ (27/900 s) ≈ 67 s");
    assert.match(await sales.locator("td.sl-projected").innerText(), /7[67]\.\d%/, "about 76.8% by 10:30");
    const conn = tv.locator('tr[data-queue="conn"]');
    await conn.locator('.sl-definition[data-definition="connect"]').waitFor({ timeout: 3000 });
    assert.equal(await sales.locator(".sl-definition").count(), 0, "a hotline queue carries no tag");
    assert.equal((await conn.locator("td.callbacks-pending").innerText()).trim(), "1");
    const needed = tv.locator("#tile-agents-needed");
    await needed.locator(".tile-value").filter({ hasText: "4" }).waitFor({ timeout: 3000 });
    assert.equal(await needed.getAttribute("data-status"), "breach");
    assert.match(await needed.locator(".staffed").innerText(), /3/);
    // Same time yesterday beside today's service level: yesterday's one call, in 5 s.
    await tv.locator('.tile[data-kpi="service_level"] .tile-yesterday').filter({ hasText: "100.0%" })
      .waitFor({ timeout: 3000 });
    // The chat channel has its own row, with its occupancy by slots: m1's
    // two chats in use of the three slots m1 staffs.
    const chat = tv.locator('section.channels tr[data-channel="chat"]');
    await chat.waitFor({ timeout: 3000 });
    assert.match(await chat.locator("td.occupancy").innerText(), /\d+\.\d%/, "chat occupancy by slots");
    const slots = tv.locator('.agent[data-agent="m1"] .agent-slots[data-channel="chat"]');
    await slots.filter({ hasText: "2/3" }).waitFor({ timeout: 3000 });
    assert.match(await slots.innerText(), /Chat/i);
    await tv.screenshot({ path: join(artifacts, "tv-foresight-4k.png") });

    // In Chinese the same figures carry Chinese labels.
    const zh = await openAt(url, "?kiosk=1&lang=zh&window=today", { viewport: { width: 3840, height: 2160 } });
    await zh.locator("#tile-agents-needed").filter({ hasText: "所需座席" }).waitFor({ timeout: 10000 });
    await zh.locator('tr[data-queue="conn"] .sl-definition').filter({ hasText: "Connect口径" }).waitFor({ timeout: 3000 });
    await zh.locator('.agent[data-agent="m1"] .agent-slots[data-channel="chat"]').filter({ hasText: "2/3" })
      .waitFor({ timeout: 3000 });
    await zh.screenshot({ path: join(artifacts, "tv-foresight-4k-zh.png") });

    // The agents' strip shows each queue's estimated wait.
    const strip = await openAt(url, "?view=agent&queue=sales&lang=en");
    await strip.locator(".estimated-wait").first().waitFor({ timeout: 10000 });

    // The interval report: today's 10:00-10:30 for the centre holds 32
    // offers, 28 answers (25 within 20 s) and 2 abandons: 25 ÷ 30.
    const report = await openAt(url, "?view=intervals&lang=en");
    const half = report.locator('table.intervals tbody tr[data-start="10:00"]');
    await half.waitFor({ timeout: 10000 });
    assert.equal((await half.locator("td.offered").innerText()).trim(), "32");
    assert.equal((await half.locator("td.answered").innerText()).trim(), "28");
    assert.equal((await half.locator("td.abandoned").innerText()).trim(), "2");
    assert.match(await half.locator("td.service-level").innerText(), /83\.3%/);
    // One queue, by 15 minutes: sales had s20…s29 offered from 10:15.
    await report.selectOption("#interval-queue", "sales");
    await report.click("#interval-size-15m");
    const quarter = report.locator('table.intervals[data-size="15m"] tbody tr[data-start="10:15"]');
    await quarter.locator("td.offered").filter({ hasText: "10" }).waitFor({ timeout: 5000 });
    assert.equal(await report.locator("#interval-size-15m").getAttribute("aria-pressed"), "true");
    assert.match(await report.locator("#interval-csv").getAttribute("href"), /format=csv/);
    await report.screenshot({ path: join(artifacts, "intervals-en.png"), fullPage: true });

    // A queue's definition switched on /admin re-evaluates its figure at once.
    const admin = await openAt(url, "admin?lang=en");
    const select = admin.locator('select[data-path="queues.conn.service_level_definition"]');
    await select.waitFor({ timeout: 10000 });
    assert.equal(await select.inputValue(), "connect");
    await select.selectOption("answered_only");
    await admin.click("#save-queues");
    await tv.locator('tr[data-queue="conn"] .sl-definition[data-definition="answered_only"]').waitFor({ timeout: 5000 });
    const settings = await api(url, "GET", "/api/v1/settings");
    assert.equal(settings.effective.queues.conn.service_level_definition, "answered_only");

    // The report and the admin page pass axe-core in both languages.
    for (const lang of ["en", "zh"]) {
      for (const query of [`?view=intervals&lang=${lang}`, `admin?lang=${lang}`]) {
        const page = await openAt(url, query, { bypassCSP: true });
        await page.locator(query.startsWith("admin") ? "select[data-path]" : "table.intervals").first().waitFor({ timeout: 10000 });
        const problems = await accessibilityProblems(page);
        assert.deepEqual(problems, [], `${query}: ${JSON.stringify(problems, null, 1)}`);
        await page.close();
      }
    }

    for (const page of [tv, zh, strip, report, admin]) {
      assert.deepEqual(page.errors, []);
      await page.close();
    }
  } finally {
    child.kill("SIGKILL");
    rmSync(data, { recursive: true, force: true });
  }
});
