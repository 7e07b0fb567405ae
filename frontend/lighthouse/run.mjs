// Lighthouse on the patient app with mobile emulation (Lighthouse's default: a mid-range phone on a
// throttled 4G link), in the system's Chromium (CHROMIUM, default /usr/bin/chromium). Usage:
//   node run.mjs http://127.0.0.1:8000/app/today/ [--email patient@demo.mobilize.example --password ...] [--min 90]
// With --email/--password it signs in first (session cookie) and audits the signed-in screen.
// Prints the performance and accessibility scores (0-100); with --min, exits 1 when either is lower.
// With --json (last), it also prints them as one JSON line at the end (read by bench/lighthouse.py).
import * as chromeLauncher from "chrome-launcher";
import lighthouse from "lighthouse";

const args = process.argv.slice(2);
const option = (name) => {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? args[index + 1] : undefined;
};
const url = args.find((a, i) => !a.startsWith("--") && !(i > 0 && args[i - 1].startsWith("--"))) ?? "http://127.0.0.1:8000/app/";
const min = option("min") === undefined ? null : Number(option("min"));

async function sessionCookie(base, email, password) {
  const csrf = await fetch(new URL("/api/v1/auth/csrf/", base));
  const csrfCookie = (csrf.headers.getSetCookie?.() ?? []).map((c) => c.split(";")[0]).find((c) => c.startsWith("csrftoken="));
  const token = csrfCookie?.split("=")[1] ?? "";
  const login = await fetch(new URL("/api/v1/auth/login/", base), {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRFToken": token, Cookie: csrfCookie ?? "", Referer: base, Origin: new URL(base).origin },
    body: JSON.stringify({ email, password }),
  });
  if (!login.ok) throw new Error(`sign-in failed: HTTP ${login.status}`);
  return (login.headers.getSetCookie?.() ?? []).map((c) => c.split(";")[0]).join("; ");
}

const email = option("email");
const cookie = email ? await sessionCookie(url, email, option("password") ?? "") : null;
const chrome = await chromeLauncher.launch({
  chromePath: process.env.CHROMIUM || "/usr/bin/chromium",
  chromeFlags: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
try {
  const result = await lighthouse(url, {
    port: chrome.port,
    output: "json",
    logLevel: "error",
    onlyCategories: ["performance", "accessibility"],
    ...(cookie ? { extraHeaders: { Cookie: cookie } } : {}),
  });
  const categories = result?.lhr.categories ?? {};
  const scores = Object.fromEntries(Object.entries(categories).map(([key, c]) => [key, Math.round((c.score ?? 0) * 100)]));
  const audits = result?.lhr.audits ?? {};
  const metric = (id) => audits[id]?.displayValue ?? "-";
  console.log(`lighthouse ${result?.lhr.finalDisplayedUrl ?? url} (mobile${cookie ? ", signed in" : ""}): performance ${scores.performance}, accessibility ${scores.accessibility}`);
  console.log(`  FCP ${metric("first-contentful-paint")}, LCP ${metric("largest-contentful-paint")}, TBT ${metric("total-blocking-time")}, CLS ${metric("cumulative-layout-shift")}`);
  if (args.includes("--json")) {
    const metrics = Object.fromEntries(["first-contentful-paint", "largest-contentful-paint", "total-blocking-time", "cumulative-layout-shift"].map((id) => [id, metric(id)]));
    const failing = Object.entries(audits)
      .filter(([, a]) => a.score !== null && a.score < 1 && (categories.accessibility?.auditRefs ?? []).some((ref) => ref.id === a.id && ref.weight > 0))
      .map(([id]) => id);
    console.log(JSON.stringify({ url: result?.lhr.finalDisplayedUrl ?? url, signed_in: cookie !== null, scores, metrics, accessibility_failing: failing }));
  }
  if (min !== null && (scores.performance < min || scores.accessibility < min)) process.exitCode = 1;
} finally {
  await chrome.kill();
}
