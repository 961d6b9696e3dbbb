// Opens pages of a running Dagster webserver in headless Chromium, saves a screenshot of each
// and prints, as one JSON object on stdout, the visible text and image sources of every page.
//
//   node tests/browser/ui_pages.mjs <plan.json>
//
// plan.json: {"base": "http://127.0.0.1:PORT", "chromium": "/usr/bin/chromium",
//             "profile": "<empty dir>", "out": "<screenshot dir>",
//             "pages": [{"name": "asset-graph", "path": "/asset-groups",
//                        "expandGroups": true, "waitFor": ["raw_images"],
//                        "click": "optional text", "waitForAfterClick": ["..."]}]}
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const plan = JSON.parse(readFileSync(process.argv[2], "utf8"));
const timeout = plan.timeoutMs ?? 60000;

const context = await chromium.launchPersistentContext(plan.profile, {
  executablePath: plan.chromium,
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  viewport: { width: 1600, height: 1000 },
});
const results = {};
try {
  for (const spec of plan.pages) {
    const page = await context.newPage();
    await page.goto(plan.base + spec.path, { waitUntil: "domcontentloaded", timeout });
    try {
      // A first visit may greet with a newsletter dialog: dismiss it when it comes.
      await page
        .getByRole("button", { name: "Skip" })
        .click({ timeout: 5000 })
        .catch(() => {});
      if (spec.expandGroups) {
        // The lineage graph collapses groups; its context menu expands them all.
        await page.mouse.click(1100, 850, { button: "right" });
        await page
          .getByRole("menuitem", { name: /Expand all groups/ })
          .first()
          .click({ timeout });
      }
      for (const text of spec.waitFor ?? []) {
        await page.getByText(text, { exact: false }).first().waitFor({ timeout });
      }
      if (spec.click) {
        await page.getByText(spec.click, { exact: true }).first().click({ timeout });
        for (const text of spec.waitForAfterClick ?? []) {
          await page.getByText(text, { exact: false }).first().waitFor({ timeout });
        }
      }
    } catch (error) {
      // Keep what the page showed: the screenshot explains most failures.
      await page.screenshot({ path: join(plan.out, `${spec.name}-failed.png`) });
      throw error;
    }
    await page.waitForLoadState("networkidle", { timeout }).catch(() => {});
    await page.waitForTimeout(spec.settleMs ?? 1500);
    await page.screenshot({ path: join(plan.out, `${spec.name}.png`), fullPage: !!spec.fullPage });
    results[spec.name] = {
      url: page.url(),
      text: await page.evaluate(() => document.body.innerText),
      images: await page.evaluate(() =>
        Array.from(document.images).map((img) => ({
          alt: img.alt,
          src: img.src.slice(0, 40),
          loaded: img.complete && img.naturalWidth > 0,
        })),
      ),
    };
    await page.close();
  }
} finally {
  await context.close();
}
process.stdout.write(JSON.stringify(results));
