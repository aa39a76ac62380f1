#!/usr/bin/env python3
"""Headless check of halfsky's Superset 6.1 dashboards (`make bi-check`): log in through the UI
form, open each dashboard, wait until every chart has either rendered or shown its error panel,
take a full-page PNG per dashboard, exit non-zero on any chart error/timeout or on any off-host
request that the CSP did not block.

Debian chromium (/usr/bin/chromium) through Playwright for Python, in its own venv
(<HALFSKY_HOME>/superset/pw-venv, made by halfsky_dev.bi); `playwright install` is never needed.

    python -m halfsky_dev.bi check     # runs: pw-venv/bin/python browser_check.py --slug S ... --out-dir D
Env: SUPERSET_URL, SUPERSET_ADMIN_PASSWORD (halfsky_dev.bi passes both).

Selectors (read off Superset 6.1.0's DOM, see report):
  chart box     [data-test="chart-grid-component"][data-test-chart-id=N]
                (also data-test-viz-type / data-test-chart-name)
  done (ok)     box  [data-test="chart-container"] [data-test="slice-container"] [id^="chart-id-"]
                with real content (canvas | svg | table) and no [data-test="loading-indicator"]
  error         box  .ant-alert-error[role="alert"]  (.ant-alert-message = "Data error", ...)
  empty result  box  .ant-empty / text "No results"
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from playwright.sync_api import sync_playwright


CHART_STATE_JS = """
(box) => {
  if (box.querySelector('.ant-alert-error, [role="alert"].ant-alert')) {
    const a = box.querySelector('.ant-alert-error, [role="alert"].ant-alert');
    return {state: 'error', detail: a.innerText.slice(0, 500)};
  }
  if (box.querySelector('[data-test="loading-indicator"]')) return {state: 'loading'};
  if (box.querySelector('.ant-empty') || /No results/.test(box.innerText))
    return {state: 'empty', detail: box.innerText.slice(0, 200)};
  const viz = box.querySelector(
      '[data-test="chart-container"] [data-test="slice-container"] [id^="chart-id-"]');
  if (viz && viz.querySelector('canvas, svg, table')) return {state: 'rendered'};
  return {state: 'pending'};
}
"""


def check_dashboard(page, base: str, slug: str, out: Path, timeout: float) -> dict:
    """Open one dashboard, wait chart by chart, take its screenshot; {chart id: state}."""
    # which charts should be there (the browser's session cookie works for GET)
    r = page.request.get(f"{base}/api/v1/dashboard/{slug}/charts")
    if not r.ok:
        return {"dashboard": {"state": "missing", "detail": f"{slug}: {r.status}"}}
    expected = {c["id"]: c["slice_name"] for c in r.json()["result"]}
    page.goto(f"{base}/superset/dashboard/{slug}/")
    page.wait_for_selector('[data-test="chart-grid-component"]', timeout=30_000)
    results = {}
    for cid, name in expected.items():
        sel = f'[data-test="chart-grid-component"][data-test-chart-id="{cid}"]'
        box = page.wait_for_selector(sel, state="attached", timeout=30_000)
        box.scroll_into_view_if_needed()  # DASHBOARD_VIRTUALIZATION renders on sight
        deadline = time.monotonic() + timeout
        while True:
            st = box.evaluate(CHART_STATE_JS)
            if st["state"] in ("rendered", "error", "empty") or time.monotonic() > deadline:
                break
            page.wait_for_timeout(250)
        st.update(name=name, viz=box.get_attribute("data-test-viz-type"))
        results[cid] = st
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(1500)  # let ECharts finish its entry animation
    page.screenshot(path=str(out / f"{slug}.png"), full_page=True)
    return results


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default=os.environ.get("SUPERSET_URL", "http://127.0.0.1:8088"))
    ap.add_argument("--slug", action="append", required=True, help="a dashboard to open (repeat)")
    ap.add_argument("--user", default=os.environ.get("SUPERSET_ADMIN_USER", "admin"))
    ap.add_argument("--out-dir", required=True, help="where <slug>.png go")
    ap.add_argument("--timeout", type=float, default=90.0, help="seconds per chart")
    ap.add_argument("--allow-host", action="append", default=[],
                    help="another host:port the page may reach (e.g. an internal tile server)")
    args = ap.parse_args()
    base = args.url.rstrip("/")
    host = urlparse(base).netloc
    allowed = {host, *args.allow_host}
    password = os.environ["SUPERSET_ADMIN_PASSWORD"]
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    offhost: list[str] = []
    console_errors: list[str] = []
    report: dict = {}
    t0 = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        ctx = browser.new_context(viewport={"width": 1400, "height": 1400}, locale="zh-CN")

        def guard(route):  # nothing leaves this host, whatever the CSP says
            if urlparse(route.request.url).netloc not in allowed:
                offhost.append(f"aborted {route.request.url}")
                return route.abort()
            return route.continue_()
        ctx.route("**/*", guard)
        page = ctx.new_page()
        page.on("requestfailed", lambda r: urlparse(r.url).netloc not in allowed
                and offhost.append(f"blocked({r.failure}) {r.url}"))
        page.on("console", lambda m: m.type == "error" and console_errors.append(m.text[:300]))

        # log in through the form
        page.goto(f"{base}/login/")
        page.fill('[data-test="username-input"]', args.user)
        page.fill('[data-test="password-input"]', password)
        page.click('[data-test="login-button"]')
        page.wait_for_url("**/superset/welcome/**", timeout=30_000)
        report["login_s"] = round(time.monotonic() - t0, 2)
        for slug in args.slug:
            t1 = time.monotonic()
            report[slug] = {"charts": check_dashboard(page, base, slug, out, args.timeout),
                            "seconds": round(time.monotonic() - t1, 2),
                            "screenshot": str(out / f"{slug}.png")}
        browser.close()

    bad = {f"{slug}/{cid}": st for slug in args.slug for cid, st in report[slug]["charts"].items()
           if st["state"] != "rendered"}
    leaked = [o for o in offhost if not o.startswith("blocked(csp)")]
    report.update(offhost=offhost, console_errors=console_errors[:10])
    print(json.dumps(report, ensure_ascii=False, indent=1))
    n = sum(len(report[s]["charts"]) for s in args.slug)
    if bad or leaked:
        print(f"FAIL: {len(bad)} of {n} chart(s) not rendered {sorted(bad)}, {len(leaked)} off-host request(s)"
              " not blocked by CSP")
        return 1
    print(f"OK: {n} charts rendered on {len(args.slug)} dashboard(s); screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
