// Drives Lookout's web UI in headless Chromium (Debian's /usr/bin/chromium) through
// playwright-core. Run by tests/e2e/ui.rs, which starts Lookout, fires an alert from
// OTLP log lines and checks through the API and amtool what this script did.
//
//   node ui.mjs '{"base": "http://127.0.0.1:8686", "generatorURL": "...", "alertname": "...", "screenshots": "dir"}'
//
// Prints one JSON line: {"silenceID": "..."}. Any failed step throws: exit status 1,
// with the step and a screenshot of the page as it was.
import { chromium } from "playwright-core";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const cfg = JSON.parse(process.argv[2]);
const shots = cfg.screenshots;
mkdirSync(shots, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), "lookout-chromium-"));
// A fresh profile each run; a phone-sized viewport: the UI is for on-call people at 3 a.m.
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  timeout: 30000,
  viewport: { width: 412, height: 915 },
  deviceScaleFactor: 1,
});
const page = await context.newPage();
page.setDefaultTimeout(20000);
const consoleErrors = [];
page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
page.on("pageerror", (e) => consoleErrors.push(String(e)));
page.on("response", (r) => { if (r.status() >= 400) consoleErrors.push(r.status() + " " + r.url()); });

let stepName = "";
async function step(name, fn) {
  stepName = name;
  process.stderr.write("step: " + name + "\n");
  await fn();
}

const out = {};
try {
  await step("alerts: the alert fired from OTLP data is listed firing, with evidence", async () => {
    await page.goto(cfg.base + "/");
    const card = page.locator(`article.alert[data-alertname="${cfg.alertname}"][data-state="firing"]`);
    await card.first().waitFor();
    await card.first().locator("details.evidence summary").click();
    const evidence = await card.first().locator("details.evidence").innerText();
    if (!evidence.includes("database connection refused")) throw new Error("no evidence log line: " + evidence);
    if (!/trace [0-9a-f]{32}/.test(evidence)) throw new Error("no trace id: " + evidence);
    await page.screenshot({ path: join(shots, "alerts.png"), fullPage: true });
    if (!/^\(1\) Alerts/.test(await page.title())) throw new Error("title: " + (await page.title()));
    await page.emulateMedia({ colorScheme: "dark" });
    await page.screenshot({ path: join(shots, "alerts-dark.png"), fullPage: true });
    await page.emulateMedia({ colorScheme: "light" });
  });

  await step("alerts: a pending alert from the rule engine, with its rule's graph", async () => {
    const card = page.locator(`article.alert[data-alertname="${cfg.pending}"][data-state="pending"]`);
    await card.first().waitFor();
    const href = await card.first().locator("a", { hasText: "Graph" }).getAttribute("href");
    if (!href.startsWith("/graph?g0.expr=sum%20by%20(service)")) throw new Error("pending graph link: " + href);
  });

  await step("alerts: the Slack title's /#/alerts?receiver= link filters by receiver", async () => {
    await page.goto(cfg.base + "/#/alerts?receiver=" + encodeURIComponent(cfg.receiver));
    await page.locator(`article.alert[data-alertname="${cfg.alertname}"]`).first().waitFor();
    if ((await page.inputValue("input[name=receiver]")) !== cfg.receiver) throw new Error("receiver not taken from the hash");
    await page.goto(cfg.base + "/#/alerts?receiver=nobody-routes-here");
    await page.waitForFunction(() => document.querySelector("#alert-summary").textContent.includes("receiver nobody-routes-here"));
    if (await page.locator("article.alert").count()) throw new Error("another receiver's alerts shown");
  });

  await step("silences: 'Silence this' prefills the form, previews, creates", async () => {
    await page.goto(cfg.base + "/");
    await page.locator(`article.alert[data-alertname="${cfg.alertname}"] a.silence-this`).first().click();
    await page.waitForURL(/\/silences\?filter=/);
    const matchers = await page.inputValue("textarea[name=matchers]");
    if (!matchers.includes(`alertname="${cfg.alertname}"`)) throw new Error("matchers not prefilled: " + matchers);
    await page.waitForFunction(() => /^1 alert match/.test((document.querySelector("#preview-count") || {}).textContent || ""));
    await page.fill("input[name=duration]", "1h");
    await page.fill("input[name=author]", "ui-test");
    await page.fill("input[name=comment]", "silenced from the browser test");
    await page.click("#silence-form button[type=submit]");
    const link = page.locator("#created-silence");
    await link.waitFor();
    out.silenceID = (await link.innerText()).trim();
    await page.locator(`#silences-active article[id="${out.silenceID}"]`).waitFor();
    await page.screenshot({ path: join(shots, "silences.png"), fullPage: true });
  });

  await step("alerts: the silenced alert shows as silenced", async () => {
    await page.goto(cfg.base + "/alerts?silenced=true");
    await page.locator(`article.alert[data-alertname="${cfg.alertname}"][data-state="silenced"]`).first().waitFor();
    await page.goto(cfg.base + "/alerts");
    await page.waitForFunction(() => /firing/.test(document.querySelector("#alert-summary").textContent));
    if (await page.locator(`article.alert[data-alertname="${cfg.alertname}"][data-state="firing"]`).count()) {
      throw new Error("still listed firing without 'silenced' ticked");
    }
  });

  await step("explore: the generatorURL from the webhook opens a graph and a table", async () => {
    await page.goto(cfg.generatorURL);
    const expr = await page.inputValue("#expr");
    if (!expr.includes("lookout_log_db_connection_errors_total")) throw new Error("expression not loaded: " + expr);
    await page.locator("#graph canvas").first().waitFor();
    await page.locator("#result-table tbody tr").first().waitFor();
    const info = await page.innerText("#graph-info");
    if (!/^[1-9]\d* series/.test(info)) throw new Error("graph info: " + info);
    await page.screenshot({ path: join(shots, "explore.png"), fullPage: true });
  });

  await step("explore: metric-name completion", async () => {
    await page.goto(cfg.base + "/graph");
    await page.click("#expr");
    await page.keyboard.type("lookout_log_db");
    await page.locator("#completions li", { hasText: "lookout_log_db_connection_errors_total" }).waitFor();
    await page.keyboard.press("Tab");
    const expr = await page.inputValue("#expr");
    if (expr !== "lookout_log_db_connection_errors_total") throw new Error("completion gave " + expr);
  });

  await step("pipeline: the graph with non-zero live rates", async () => {
    await page.goto(cfg.base + "/pipeline");
    for (const id of ["otlp", "enrich", "archive"]) await page.locator("#c-" + id).waitFor();
    await page.waitForFunction(() => {
      const n = document.querySelector("#c-enrich");
      return n && Number(n.dataset.eventsIn) > 0 && Number(document.querySelector("#c-archive").dataset.eventsIn) > 0;
    }, null, { timeout: 20000 });
    const text = await page.innerText("#c-enrich");
    if (!/in [0-9.]+k?\/s/.test(text)) throw new Error("no rate shown: " + text);
    await page.screenshot({ path: join(shots, "pipeline.png"), fullPage: true });
    // On a wide screen the columns stand side by side, joined by their inputs.
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.waitForFunction(() => document.querySelectorAll("svg.edges path").length >= 4, null, { timeout: 5000 });
    await page.screenshot({ path: join(shots, "pipeline-wide.png"), fullPage: true });
    await page.setViewportSize({ width: 412, height: 915 });
  });

  await step("rules: state, expression link, backtest", async () => {
    await page.goto(cfg.base + "/rules");
    const rule = page.locator(`article.rule[data-rule="${cfg.alertname}"]`);
    await rule.waitFor();
    const href = await rule.locator("a.expr").getAttribute("href");
    if (!href.startsWith("/graph?g0.expr=")) throw new Error("expression link: " + href);
    await page.selectOption("#backtest-range", "1h");
    await rule.locator("button.backtest-button").click();
    await rule.locator(".backtest li.episode").first().waitFor();
    await page.screenshot({ path: join(shots, "rules.png"), fullPage: true });
  });

  await step("scaler: decisions over time", async () => {
    await page.goto(cfg.base + "/scaler");
    if (cfg.scaler) {
      await page.locator(`section.scaler[data-scaler="${cfg.scaler}"] .chart canvas`).waitFor();
      const decision = page.locator(`section.scaler[data-scaler="${cfg.scaler}"] li.decision`).first();
      await decision.waitFor();
      const text = await decision.innerText();
      if (!/\d+ → \d+/.test(text) || !text.includes("db_errors")) throw new Error("decision without replicas or metric: " + text);
    } else {
      await page.waitForFunction(() => !/Loading/.test(document.querySelector("#scalers").textContent));
    }
    await page.screenshot({ path: join(shots, "scaler.png"), fullPage: true });
  });

  await step("probes: one up, one down, with their last results", async () => {
    await page.goto(cfg.base + "/probes");
    const up = page.locator(`section.probe[data-probe="${cfg.probeUp}"][data-state="up"]`);
    const down = page.locator(`section.probe[data-probe="${cfg.probeDown}"][data-state="down"]`);
    await up.waitFor();
    await down.waitFor();
    if (!(await up.innerText()).includes("HTTP status")) throw new Error("no HTTP status: " + (await up.innerText()));
    if (!(await down.locator(".error").first().innerText()).trim()) throw new Error("no error on the down probe");
    await page.screenshot({ path: join(shots, "probes.png"), fullPage: true });
  });

  await step("tap: the records leaving a component, live, filtered", async () => {
    await page.goto(cfg.base + "/tap?component=enrich&where=" + encodeURIComponent('body =~ "pg-1$"'));
    const record = page.locator("#tap-records .record").first();
    await record.waitFor();
    const text = await record.innerText();
    const doc = JSON.parse(text);
    if (doc.body !== "database connection refused by pg-1") throw new Error("not the filtered record: " + text);
    await page.click("#tap-stop");
    await page.screenshot({ path: join(shots, "tap.png"), fullPage: true });
  });

  if (consoleErrors.length) throw new Error("errors in the browser console: " + consoleErrors.join(" | "));
  console.log(JSON.stringify(out));
} catch (e) {
  await page.screenshot({ path: join(shots, "failed.png"), fullPage: true }).catch(() => {});
  console.error("FAILED at step: " + stepName + "\n" + (e && e.stack ? e.stack : e));
  if (consoleErrors.length) console.error("browser console errors:\n" + consoleErrors.join("\n"));
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
