"""The upload page (halfsky.portal.app) against a real warehouse and landing folder: a unit logs in, downloads its
template, uploads a drop and gets the night's verdict; an accepted file lands with its original bytes and the
night accepts it, a rejected one places nothing; a unit sees only its own; CSRF, login rate limits, session
expiry and the size limit hold; and every hostile case of the catalogue that can be uploaded gets, through the
page, the verdict the night gives it."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from fastapi.testclient import TestClient

from halfsky.portal import accounts
from halfsky.portal.app import create_app
from halfsky_dev.sample.__main__ import main as generate
from hostile_catalogue import CASES, IGNORED, REJECTED, UNITS, _environment, place_of
from ingest_helpers import AS_OF, ingest_all
from template_filling import fill_template, typed_rows

PASSWORD = "correct horse battery"
DEMO_ARGS = ("--prefectures", "6", "--months", "3", "--prior-year", "--dirty", "--invalid", "all", "--resubmissions", "2",
             "--duplicates", "1", "--with-warnings", "--force")


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def site(fresh_database, tmp_path_factory):
    base = tmp_path_factory.mktemp("portal")
    demo = base / "demo"
    assert generate([str(demo), *DEMO_ARGS, "--truth", str(base / "truth.json")]) == 0
    with fresh_database("portal", schema=True) as dsn:
        with psycopg.connect(dsn) as conn:
            for name, unit in (("ili", "654000"), ("hohhot", "150100"), *((f"u{u}", u) for u in UNITS)):
                accounts.add_account(conn, name, unit, PASSWORD, created_by="test", at=AS_OF)
        clock = Clock(AS_OF)
        landing = base / "landing"
        landing.mkdir()
        app = create_app(dsn=dsn, landing_url=str(landing), secret_key="k" * 48, clock=clock, months_offered=60)
        yield SimpleNamespace(dsn=dsn, landing=landing, quarantine=base / "quarantine", clock=clock, app=app,
                              demo=demo, truth=json.loads((base / "truth.json").read_text(encoding="utf-8")))


def _token(page: str) -> str:
    return re.search(r'name="csrftoken" value="([^"]+)"', page).group(1)


def _login(site, username: str, password: str = PASSWORD) -> TestClient:
    client = TestClient(site.app, base_url="http://127.0.0.1")
    page = client.get("/login")
    reply = client.post("/login", data={"csrftoken": _token(page.text), "username": username, "password": password},
                        follow_redirects=False)
    assert reply.status_code == 303, reply.text
    return client


def _upload(client: TestClient, period: str, name: str, data: bytes):
    token = _token(client.get("/").text)
    reply = client.post("/upload", data={"csrftoken": token, "period": period}, files={"file": (name, data)},
                        follow_redirects=False)
    assert reply.status_code == 303, reply.text[:500]
    upload_id = int(reply.headers["location"].rsplit("/", 1)[1])
    return upload_id, client.get(reply.headers["location"])


def _upload_row(site, upload_id: int) -> tuple:
    with psycopg.connect(site.dsn) as conn:
        return conn.execute("select username, unit_code, period, verdict, reasons, landed_path, sha256 "
                            "from portal.uploads where upload_id = %s", (upload_id,)).fetchone()


def _landed(site) -> set[str]:
    return {str(p.relative_to(site.landing)) for p in site.landing.rglob("*") if p.parent.parent.parent == site.landing}


def test_an_accepted_upload_lands_with_its_bytes_and_a_rejected_one_places_nothing(site):
    ili = _login(site, "ili")
    original = (site.demo / "654000/2026-09/654000_2026-09_v1.json").read_bytes()
    before = _landed(site)
    upload_id, page = _upload(ili, "2026-09", "伊犁 九月.json", original)
    assert "ACCEPTED" in page.text and "伊犁 九月.json" in page.text
    username, unit, period, verdict, _, landed, sha = _upload_row(site, upload_id)
    assert (username, unit, period, verdict) == ("ili", "654000", "2026-09", "accepted")
    assert _landed(site) - before == {landed} and re.fullmatch(r"654000/2026-09/upload-\d{8}T\d{6}-[0-9a-f]{8}\.json", landed)
    assert (site.landing / landed).read_bytes() == original and sha == hashlib.sha256(original).hexdigest()
    assert ili.get(f"/uploads/{upload_id}/report").text.count("已接收") >= 1

    hohhot = _login(site, "hohhot")
    bad = (site.demo / "150100/2026-09/150100_2026-09_bad_code_list.xlsx").read_bytes()
    upload_id, page = _upload(hohhot, "2026-09", "../../etc/passwd.xlsx", bad)
    assert "REJECTED" in page.text and "code_list" in page.text
    row = _upload_row(site, upload_id)
    assert (row[3], row[5]) == ("rejected", None)
    assert _landed(site) - before == {landed}, "a rejected upload places nothing"
    report = hohhot.get(f"/uploads/{upload_id}/report")
    assert "code_list" in report.text and report.headers["content-security-policy"].startswith("default-src 'none'")
    assert not list(Path("/etc").glob("passwd.xlsx*"))

    # A unit sees only its own: Hohhot gets nothing of Ili's, by id or in its history.
    assert hohhot.get(f"/uploads/{upload_id - 1}").status_code == 404
    assert hohhot.get(f"/uploads/{upload_id - 1}/report").status_code == 404
    assert "伊犁 九月.json" not in hohhot.get("/").text and "伊犁 九月.json" in ili.get("/").text


def test_the_template_filled_with_the_demos_rows_is_accepted_on_upload_and_at_night(site):
    ili = _login(site, "ili")
    template = ili.get("/template", params={"period": "2026-08"})
    assert template.status_code == 200 and template.headers["content-disposition"].endswith('-654000-2026-08.xlsx"')
    source = next(d for d in site.truth["drops"] if d["prefecture_code"] == "654000" and d["period"] == "2026-08"
                  and d["expected_status"] == "accepted")
    rows = typed_rows(site.demo / source["path"], "654000", "2026-08")
    upload_id, page = _upload(ili, "2026-08", "模板.xlsx", fill_template(template.content, rows))
    assert "ACCEPTED" in page.text, page.text[-3000:]
    landed = _upload_row(site, upload_id)[5]
    history = ili.get("/").text
    assert "检查通过，待夜间入库" in history  # placed, the night has not run

    ingest_all(site.dsn, site.landing, site.quarantine, as_of=datetime.now(timezone.utc))  # the file's time is real
    with psycopg.connect(site.dsn) as conn:
        status, counts = conn.execute("select status, row_counts from ingest.submissions where drop_path = %s",
                                      (landed,)).fetchone()
    assert status == "accepted" and counts == {name: len(r) for name, r in rows.items()}
    history = ili.get("/").text
    assert "模板.xlsx" in history and ("待省妇联审核" in history or "已接收" in history)
    night = re.search(r'href="/submissions/(\d+)/report"', history)
    report = ili.get(night.group(0)[6:-1]).text
    assert "已接收" in report and f"activity: {len(rows['activity']):,}" in report  # the log's row counts

    # Once the night has read it, the upload is no duplicate of itself; the same bytes sent again are one.
    assert "重复报送" not in ili.get(f"/uploads/{upload_id}").text
    filled = (site.landing / landed).read_bytes()
    site.clock.now = datetime.now(timezone.utc)  # after the landed copy's time, as a real clock would be
    try:
        again, page = _upload(_login(site, "ili"), "2026-08", "模板 again.xlsx", filled)  # a new day, a new login
    finally:
        site.clock.now = AS_OF
    assert "ACCEPTED" in page.text and "夜间将记为重复报送" in page.text


def test_csrf_rate_limits_sessions_and_the_size_limit(site, monkeypatch):
    anonymous = TestClient(site.app, base_url="http://127.0.0.1")
    page = anonymous.get("/login")
    assert "HttpOnly" in page.headers["set-cookie"] and "samesite=strict" in page.headers["set-cookie"].lower()
    # No token, a token of another cookie, no cookie at all: refused before the password is looked at.
    refused = anonymous.post("/login", data={"username": "ili", "password": PASSWORD})
    assert refused.status_code == 403 and "表单已过期" in refused.text  # a page that says what to do, not JSON
    stranger = TestClient(site.app, base_url="http://127.0.0.1")
    assert stranger.post("/login", data={"csrftoken": _token(page.text), "username": "ili",
                                         "password": PASSWORD}).status_code == 403
    # Five wrong passwords a minute for a name, then refused even with the right one.
    for _ in range(5):
        assert anonymous.post("/login", data={"csrftoken": _token(page.text), "username": "hohhot",
                                              "password": "wrong password"}).status_code == 401
    assert anonymous.post("/login", data={"csrftoken": _token(page.text), "username": "hohhot",
                                          "password": PASSWORD}).status_code == 429
    with psycopg.connect(site.dsn) as conn:
        stored = conn.execute("select password_hash from portal.accounts where username = 'ili'").fetchone()[0]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored

    # An upload without its token is refused, and so is one for a period the page does not offer.
    ili = _login(site, "ili")
    assert ili.post("/upload", data={"period": "2026-09"}, files={"file": ("a.json", b"{}")}).status_code == 403
    token = _token(ili.get("/").text)
    assert ili.post("/upload", data={"csrftoken": token, "period": "../../x"},
                    files={"file": ("a.json", b"{}")}).status_code == 400

    # Over the drop size limit: refused from the declared length, before the body is read.
    limit = 64 * 1024
    monkeypatch.setenv("HALFSKY_MAX_DROP_BYTES", str(limit))
    small = create_app(dsn=site.dsn, landing_url=str(site.landing), secret_key="k" * 48, clock=site.clock)
    client = TestClient(small, base_url="http://127.0.0.1")
    page = client.get("/login")
    client.post("/login", data={"csrftoken": _token(page.text), "username": "ili", "password": PASSWORD})
    reply = client.post("/upload", data={"csrftoken": _token(client.get("/").text), "period": "2026-09"},
                        files={"file": ("big.json", b"x" * (limit + 200_000))})
    assert reply.status_code == 413 and "too_large" in reply.text

    # A session ends 12 hours after the login, however busy.
    site.clock.now = AS_OF + timedelta(hours=12, minutes=1)
    try:
        assert ili.get("/", follow_redirects=False).headers["location"] == "/login"
    finally:
        site.clock.now = AS_OF


def _as_upload(path: Path) -> tuple[str, bytes] | str:
    """The case's drop as the page would get it (a file, or a folder zipped), or why it cannot be uploaded."""
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode) or not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return "a link or device: an upload is bytes"
    if stat.S_ISREG(mode):
        if path.stat().st_size > 50 << 20:
            return "over the upload's size limit: test_csrf_rate_limits_sessions_and_the_size_limit"
        return path.name, path.read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry in sorted(path.rglob("*")):
            if entry.is_symlink():
                return "a link inside a folder: an upload is bytes"
            try:
                name = str(entry.relative_to(path)).encode("utf-8").decode("utf-8")
            except UnicodeEncodeError:
                return "a file name that is not UTF-8: a zip cannot carry it"
            if entry.is_file():
                archive.writestr(f"{path.name}/{name}", entry.read_bytes())
    return path.name + ".zip", out.getvalue()


_CLIENTS: dict[str, TestClient] = {}


def _client_of(site, username: str) -> TestClient:
    """One logged-in client per unit for the catalogue: a login per case is not what is tested."""
    if username not in _CLIENTS:
        _CLIENTS[username] = _login(site, username)
    return _CLIENTS[username]


def _uploadable(case) -> bool:
    return case.landing == "local" and case.status != IGNORED and not case.slow and "tiny drops" not in case.name


@pytest.mark.parametrize("case", [c for c in CASES if _uploadable(c)], ids=lambda c: c.name)
def test_a_hostile_case_gets_the_nights_verdict_through_the_upload(site, tmp_path, case):
    unit, period = place_of(case)
    with _environment(case.env):
        rel = case.build(str(tmp_path), unit, period)
        built = tmp_path / unit / period / rel.split("/", 2)[2] if "\\" not in rel else None
        if built is None or not os.path.lexists(built):
            pytest.skip("its name is the case: the page never takes a name from the sender")
        sent = _as_upload(built)
        if isinstance(sent, str):
            pytest.skip(sent)
        client = _client_of(site, f"u{unit}")
        upload_id, page = _upload(client, period, *sent)
    _, _, _, verdict, reasons, landed, _ = _upload_row(site, upload_id)
    rules = {r["rule"] for r in reasons if r["severity"] == ("error" if verdict == REJECTED else "warning")}
    rules.discard("late_drop")  # the upload arrives at the page's time, not at the file's
    assert verdict == case.status, (verdict, reasons)
    if case.status == REJECTED:
        assert rules == {case.rule} and landed is None
    else:
        assert case.rule is None or case.rule in rules, reasons
        assert landed and (site.landing / landed).exists()



def test_an_accepted_upload_is_placed_whole_in_an_object_store(site):
    """Placing into an object store (fsspec's memory store here; s3fs the same way): the file, or a zipped csv
    folder's files, under the drop's final name only, nothing left under the temporary one."""
    import fsspec

    from halfsky.portal import uploads

    root = "memory://halfsky-portal-test/landing"
    json_drop = (site.demo / "654000/2026-09/654000_2026-09_v1.json").read_bytes()
    folder = next(p for p in (site.demo / "654000/2026-08").iterdir() if p.is_dir())
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        for f in sorted(folder.iterdir()):
            archive.writestr(f"{folder.name}/{f.name}", f.read_bytes())
    fs, _ = fsspec.core.url_to_fs(root)
    try:
        with psycopg.connect(site.dsn) as conn:
            for name, data, period in (("a.json", json_drop, "2026-09"), ("b.zip", zipped.getvalue(), "2026-08")):
                checked = uploads.check_upload(conn, data, name, "654000", period, AS_OF)
                assert checked.verdict.accepted, checked.verdict.reasons()
                rel = uploads.place(root, checked, data)
                if checked.is_folder:
                    assert sorted(fs.ls(f"/halfsky-portal-test/landing/{rel}", detail=False)) == sorted(
                        f"/halfsky-portal-test/landing/{rel}/{f.name}" for f in folder.iterdir())
                else:
                    assert fs.cat(f"/halfsky-portal-test/landing/{rel}") == data
        names = [p.rsplit("/", 1)[1] for p in fs.find("/halfsky-portal-test/landing", withdirs=True)]
        assert not [n for n in names if n.startswith("~$")], names
    finally:
        fs.rm("/halfsky-portal-test", recursive=True)


@pytest.mark.parametrize("role", ["halfsky_loader", "halfsky_transformer"])
def test_no_pipeline_role_reads_the_accounts_or_the_uploads(site, role):
    for table in ("portal.accounts", "portal.uploads"):
        with psycopg.connect(site.dsn) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"set role {role}")
            conn.execute(f"select count(*) from {table}")


def test_a_zip_that_cannot_be_unpacked_is_a_verdict_not_an_error(site, tmp_path):
    """A name that is a file and a folder at once, a link, a step out: each a rejection naming the member."""
    from halfsky.portal.uploads import _unzip_folder

    def zipped(*members: tuple[str, bytes], link: str | None = None) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            for name, data in members:
                archive.writestr(name, data)
            if link:
                info = zipfile.ZipInfo(link)
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                archive.writestr(info, "/etc/passwd")
        return out.getvalue()

    cases = {"unreadable": zipped(("d/a", b"x"), ("d/a/b", b"y")),
             "not_a_regular_file": zipped(("d/activity.csv", b"x"), link="d/funds.csv"),
             "unsafe_name": zipped(("d/../activity.csv", b"x"))}
    for rule, data in cases.items():
        [finding] = _unzip_folder(data, tmp_path / rule)
        assert finding.rule == rule, (rule, finding)
    assert not list(tmp_path.rglob("passwd")) and not (tmp_path / "activity.csv").exists()
