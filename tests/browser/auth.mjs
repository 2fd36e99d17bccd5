// The UI behind web.yml in headless Chromium: without credentials the page is refused
// (401, the browser's login prompt); a viewer signed in with basic auth reads the pages,
// and creating a silence tells them it needs the editor role.
//
//   node auth.mjs '{"base": "http://127.0.0.1:8686", "user": "vera", "password": "...", "screenshots": "dir"}'
import { chromium } from "playwright-core";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const cfg = JSON.parse(process.argv[2]);
mkdirSync(cfg.screenshots, { recursive: true });
const args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

async function withContext(options, fn) {
  const profile = mkdtempSync(join(tmpdir(), "lookout-chromium-"));
  const context = await chromium.launchPersistentContext(profile, Object.assign({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args, timeout: 30000,
    viewport: { width: 412, height: 915 },
  }, options));
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(15000);
    return await fn(page);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

try {
  await withContext({}, async (page) => {
    // Headless Chromium cannot show the login prompt: it fails the navigation instead.
    let status = null;
    page.on("response", (r) => { if (r.url().endsWith("/alerts")) status = r.status(); });
    const resp = await page.goto(cfg.base + "/alerts").catch((e) => {
      if (!String(e).includes("ERR_INVALID_AUTH_CREDENTIALS")) throw e;
      return null;
    });
    if ((resp ? resp.status() : status) !== 401) throw new Error("without credentials: " + (resp ? resp.status() : status));
  });
  await withContext({ httpCredentials: { username: cfg.user, password: cfg.password } }, async (page) => {
    const resp = await page.goto(cfg.base + "/silences?filter=" + encodeURIComponent('{alertname="Anything"}'));
    if (resp.status() !== 200) throw new Error("viewer: " + resp.status());
    await page.locator("#silences-active").filter({ hasNotText: "Loading" }).waitFor();
    await page.fill("input[name=author]", cfg.user);
    await page.fill("input[name=comment]", "a viewer tries");
    await page.click("#silence-form button[type=submit]");
    await page.locator("#silence-result.error", { hasText: "needs the editor role" }).waitFor();
    await page.screenshot({ path: join(cfg.screenshots, "silence-as-viewer.png"), fullPage: true });
  });
  console.log(JSON.stringify({ ok: true }));
} catch (e) {
  console.error(e && e.stack ? e.stack : e);
  process.exitCode = 1;
}
