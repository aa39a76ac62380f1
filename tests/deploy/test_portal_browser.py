"""The upload page in a real browser (Playwright driving Debian's chromium; no browser download), served by
``python -m halfsky.portal.app`` as ``make up`` starts it: a unit's statistician logs in, downloads the template,
fills it with the demo's rows, uploads it and reads ACCEPTED; uploads one with a wrong code and reads the report;
and finds both in the unit's history. Screenshots go to the test's folder, and to docs/screenshots/portal/ with
HALFSKY_UPDATE_SCREENSHOTS=1 (fonts-noto-cjk makes the Chinese readable)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

from conftest import REPO_ROOT
from halfsky.portal import accounts
from halfsky_dev.sample.__main__ import main as generate
from ingest_helpers import AS_OF
from template_filling import fill_template, typed_rows

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "a long enough password"
SCREENSHOTS = REPO_ROOT / "docs" / "screenshots" / "portal"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="no Debian chromium (apt-get install chromium fonts-noto-cjk)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def page_server(fresh_database, tmp_path):
    with fresh_database("portal_browser", schema=True) as dsn:
        with psycopg.connect(dsn) as conn:
            accounts.add_account(conn, "ili", "654000", PASSWORD, created_by="test", at=AS_OF)
        port, landing = _free_port(), tmp_path / "landing"
        landing.mkdir()
        env = {**os.environ, "AIRFLOW_CONN_WAREHOUSE_DB": dsn, "AIRFLOW_VAR_LANDING_URL": str(landing),
               "HALFSKY_PORTAL_SECRET_KEY": "s" * 48, "HALFSKY_HOME": str(tmp_path / "home")}
        log = (tmp_path / "page.log").open("wb")
        server = subprocess.Popen([sys.executable, "-m", "halfsky.portal.app", "--port", str(port)], env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(f"{base}/healthz", timeout=2)
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError((tmp_path / "page.log").read_text()[-3000:])
                    time.sleep(0.3)
            yield base, landing, tmp_path / "page.log"
        finally:
            server.terminate()
            server.wait(timeout=20)


def test_log_in_download_fill_upload_accepted_then_a_wrong_code_rejected_and_both_in_the_history(page_server, tmp_path):
    from playwright.sync_api import sync_playwright

    base, landing, log = page_server
    demo = tmp_path / "demo"
    assert generate([str(demo), "--prefectures", "6", "--months", "3", "--prior-year", "--force"]) == 0
    rows = typed_rows(next((demo / "654000" / "2026-09").iterdir()), "654000", "2026-09")
    shots = tmp_path / "shots"
    shots.mkdir()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True)
        page.goto(f"{base}/")
        assert page.url.endswith("/login")
        page.fill("input[name=username]", "ili")
        page.fill("input[name=password]", PASSWORD)
        page.screenshot(path=str(shots / "a-login.png"))
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/")
        assert "654000 伊犁哈萨克自治州" in page.inner_text("h1")
        page.screenshot(path=str(shots / "b-home.png"), full_page=True)

        page.select_option("form[action='/template'] select[name=period]", "2026-09")
        with page.expect_download() as download:
            page.click("form[action='/template'] button")
        template = Path(download.value.path()).read_bytes()
        assert download.value.suggested_filename == "halfsky-template-654000-2026-09.xlsx"

        filled = tmp_path / "伊犁 2026年9月.xlsx"
        filled.write_bytes(fill_template(template, rows))
        page.select_option("form[action='/upload'] select[name=period]", "2026-09")
        page.set_input_files("input[type=file]", str(filled))
        page.click("form[action='/upload'] button")
        page.wait_for_url("**/uploads/*")
        assert "ACCEPTED" in page.inner_text(".banner")
        page.screenshot(path=str(shots / "c-accepted.png"), full_page=True)
        placed = [p for p in (landing / "654000" / "2026-09").iterdir()]
        assert len(placed) == 1 and placed[0].read_bytes() == filled.read_bytes()

        wrong = {**rows, "activity": [{**rows["activity"][0], "program_code": "TWO_CANCER"}, *rows["activity"][1:]]}
        broken = tmp_path / "伊犁 2026年9月 改.xlsx"
        broken.write_bytes(fill_template(template, wrong))
        page.goto(f"{base}/")
        page.select_option("form[action='/upload'] select[name=period]", "2026-09")
        page.set_input_files("input[type=file]", str(broken))
        page.click("form[action='/upload'] button")
        page.wait_for_url("**/uploads/*")
        assert "REJECTED" in page.inner_text(".banner") and "code_list" in page.inner_text("main")
        report = page.frame_locator("iframe").locator("body")
        assert "TWO_CANCER" in report.inner_text() and "已退回" in report.inner_text()
        page.screenshot(path=str(shots / "d-rejected-with-report.png"), full_page=True)
        assert len(list((landing / "654000" / "2026-09").iterdir())) == 1, "a rejected upload places nothing"

        page.goto(f"{base}/")
        history = page.inner_text("table")
        assert filled.name in history and broken.name in history
        assert "检查通过，待夜间入库" in history and "检查未通过，未报送" in history
        page.screenshot(path=str(shots / "e-history.png"), full_page=True)
        browser.close()
    if os.environ.get("HALFSKY_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for shot in shots.iterdir():
            shutil.copy(shot, SCREENSHOTS / shot.name)
    assert "upload" in log.read_text() and "placed as 654000/2026-09/upload-" in log.read_text()
