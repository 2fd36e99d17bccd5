// Expires a silence through the Silences page: its Expire button, then the silence
// is listed in the history. Run by tests/e2e/ui.rs after ui.mjs created the silence.
//
//   node expire.mjs '{"base": "http://127.0.0.1:8686", "silenceID": "...", "screenshots": "dir"}'
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const cfg = JSON.parse(process.argv[2]);
const profile = mkdtempSync(join(tmpdir(), "lookout-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  timeout: 30000,
  viewport: { width: 412, height: 915 },
});
try {
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  await page.goto(cfg.base + "/silences");
  const active = page.locator(`#silences-active article[id="${cfg.silenceID}"]`);
  await active.locator("button.expire").click();
  await page.locator(`#silences-expired article[id="${cfg.silenceID}"][data-state="expired"]`).waitFor();
  if (await active.count()) throw new Error("still listed as active");
  await page.screenshot({ path: join(cfg.screenshots, "silence-expired.png"), fullPage: true });
  console.log(JSON.stringify({ expired: cfg.silenceID }));
} catch (e) {
  console.error(e && e.stack ? e.stack : e);
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
