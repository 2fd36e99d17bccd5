// The Errors page in headless Chromium (Debian's /usr/bin/chromium, playwright-core).
// Run by tests/e2e/errors.rs after the Python SDK recorded two bugs: the list shows both
// groups, the detail of one shows its samples with trace ids and stack traces, and its
// Resolve button resolves it (the test then checks the API).
//
//   node errors.mjs '{"base": "http://127.0.0.1:8686", "fingerprint": "...", "screenshots": "dir"}'
import { chromium } from "playwright-core";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const cfg = JSON.parse(process.argv[2]);
mkdirSync(cfg.screenshots, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), "lookout-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  timeout: 30000,
  viewport: { width: 412, height: 915 },
});
const consoleErrors = [];
try {
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));

  await page.goto(cfg.base + "/errors?sort=count");
  const card = page.locator(`section.error-group[data-fingerprint="${cfg.fingerprint}"][data-state="open"]`);
  await card.waitFor();
  if ((await page.locator("section.error-group").count()) !== 2) throw new Error("not two groups listed");
  if (!(await card.innerText()).includes("load_order (errors_client.py:")) throw new Error("no culprit: " + (await card.innerText()));
  await page.screenshot({ path: join(cfg.screenshots, "errors.png"), fullPage: true });

  await card.locator("h2 a").click();
  await page.waitForURL(/fingerprint=/);
  const samples = page.locator("ul.samples li.sample");
  await samples.first().waitFor();
  const first = await samples.first().innerText();
  if (!/trace [0-9a-f]{32}/.test(first)) throw new Error("no trace id in the sample: " + first);
  await samples.first().locator("summary").click();
  if (!(await samples.first().locator("pre").innerText()).includes("in load_order")) throw new Error("no stack trace");
  await page.locator("button.resolve").click();
  await page.locator(`section.error-group[data-fingerprint="${cfg.fingerprint}"][data-state="resolved"]`).waitFor();
  await page.locator("button.reopen").waitFor();
  await page.screenshot({ path: join(cfg.screenshots, "error-group.png"), fullPage: true });
  if (consoleErrors.length) throw new Error("errors in the browser console: " + consoleErrors.join(" | "));
  console.log(JSON.stringify({ resolved: cfg.fingerprint, samples: await samples.count() }));
} catch (e) {
  console.error(e && e.stack ? e.stack : e);
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
