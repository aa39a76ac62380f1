"""The upload page: a unit's staff log in, download their template, upload a drop and get the night's verdict and
bilingual report within seconds, and see every submission of their unit with its state.

FastAPI and Jinja2 (autoescaped), with the ecosystem's own pieces for what must not be hand-made:
- sessions: Starlette's ``SessionMiddleware`` (itsdangerous-signed cookie, SameSite=Strict, checked for age on
  every request, so a session expires ``session_minutes`` after the last page; and an absolute cap of 12 hours);
- CSRF: ``fastapi-csrf-protect`` (a signed, timed double-submit cookie and a hidden form field), checked on
  every POST, the login's included, before the endpoint runs;
- login rate limits: ``limits`` (a moving window per address and name, and per address);
- passwords: argon2id (``halfsky.portal.accounts``).
A body over the drop size limit (``HALFSKY_MAX_DROP_BYTES``) is refused from its Content-Length, or as soon as
that many bytes have come, before the rest is read. The sender's file name is shown and recorded, never a path.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations (Request, Form) at runtime.

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from halfsky.contract.periods import SHANGHAI, deadline, is_month
from halfsky.contract.rules import RULES

log = logging.getLogger(__name__)

PAGES = Path(__file__).with_name("pages")
SMALL_BODY = 64 * 1024  # a login or logout form
MULTIPART_SLACK = 64 * 1024  # the upload form's other fields and boundaries around the file
ABSOLUTE_SESSION = timedelta(hours=12)
CSRF_COOKIE = "halfsky_portal_csrf"


class _BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Refuses a request body over its path's limit, from Content-Length or while it streams in (413)."""

    def __init__(self, app, upload_limit: int, page: Callable[[int], bytes]):
        self.app, self.upload_limit, self.page = app, upload_limit, page

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        limit = self.upload_limit + MULTIPART_SLACK if scope["path"] == "/upload" else SMALL_BODY
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await self._refuse(send, limit)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLarge
            return message

        started = False

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked_send)
        except _BodyTooLarge:
            if not started:
                await self._refuse(send, limit)

    async def _refuse(self, send, limit: int):
        body = self.page(limit)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"text/html; charset=utf-8"), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def offered_periods(unit_code: str, today: datetime, months: int = 24) -> list[str]:
    """What the page offers: this month and the ``months`` before it, and this year and the two before, where the
    unit reports (an older period is a question for the province, not a form)."""
    from halfsky.contract.reference.code_lists import reference_data

    unit = reference_data().units[unit_code]
    local = today.astimezone(SHANGHAI)
    offered, year, month = [], local.year, local.month
    for _ in range(months + 1):
        offered.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    years = [str(local.year - i) for i in range(max(3, months // 12 + 1))]
    return [p for p in offered if unit.expected_in(p)] + [y for y in years if unit.expected_in_year(y)]


def create_app(*, dsn: str | None = None, landing_url: str | None = None, secret_key: str | None = None,
               session_minutes: int = 30, https_only: bool = False, months_offered: int = 24,
               clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
    """The ASGI app. ``dsn`` and ``landing_url`` default to the pipeline's settings; ``secret_key`` signs sessions
    and CSRF tokens (``HALFSKY_PORTAL_SECRET_KEY``, else a 0600 file made once in HALFSKY_HOME)."""
    import psycopg
    from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
    from fastapi_csrf_protect import CsrfProtect
    from fastapi_csrf_protect.exceptions import CsrfProtectError
    from fastapi.responses import HTMLResponse, RedirectResponse, Response
    from jinja2 import Environment, FileSystemLoader, select_autoescape
    from limits import parse, storage, strategies
    from starlette.concurrency import run_in_threadpool
    from starlette.middleware.sessions import SessionMiddleware

    from halfsky.config.settings import landing_url as configured_landing, warehouse_dsn
    from halfsky.contract.reference.code_lists import reference_data
    from halfsky.ingest.reading.drop import max_drop_bytes
    from halfsky.portal import accounts, history, uploads
    from halfsky.portal.workbook_template import build_template, template_file_name

    dsn = dsn or warehouse_dsn()
    landing = landing_url or configured_landing()
    key = secret_key or portal_secret_key()
    pages = Environment(loader=FileSystemLoader(PAGES), autoescape=select_autoescape(["html"]))
    limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
    per_name, per_address = parse("5/minute"), parse("20/minute")
    upload_limit = max_drop_bytes()

    @CsrfProtect.load_config
    def _csrf_settings():
        return [("secret_key", key), ("token_location", "body"), ("token_key", "csrftoken"),
                ("cookie_key", CSRF_COOKIE), ("cookie_samesite", "strict"), ("cookie_secure", https_only),
                ("max_age", int(ABSOLUTE_SESSION.total_seconds())), ("httponly", True)]

    csrf = CsrfProtect()

    class StaleForm(Exception):
        """A POST without a valid CSRF token: an old tab, an expired token, or another site's form."""

    async def verify_csrf(request: Request):
        try:
            await csrf.validate_csrf(request)
        except CsrfProtectError as exc:
            log.warning("refused a POST to %s without a valid CSRF token: %s", request.url.path, exc)
            raise StaleForm() from exc

    app = FastAPI(title="halfsky upload page", docs_url=None, redoc_url=None, openapi_url=None)
    checked = [Depends(verify_csrf)]

    @app.exception_handler(StaleForm)
    def stale_form(request: Request, exc: StaleForm):
        return render(request, "message.html", 403,
                      message="表单已过期，请刷新页面后重试。The form has expired: reload the page and try again.")

    def render(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
        context.setdefault("account", _account(request))
        token, signed = _csrf_token(request)
        html = pages.get_template(name).render(csrftoken=token, **context)
        response = HTMLResponse(html, status_code=status, headers=_SECURITY_HEADERS)
        if signed:
            csrf.set_csrf_cookie(signed, response)
        return response

    def _csrf_token(request: Request) -> tuple[str, str | None]:
        """The browser's token while its cookie is younger than half its life (so every tab's forms stay valid),
        else a new one and the cookie to set."""
        from itsdangerous import BadData, URLSafeTimedSerializer

        cookie = request.cookies.get(CSRF_COOKIE)
        if cookie:
            try:  # fastapi-csrf-protect's own signing: its serializer and salt
                reader = URLSafeTimedSerializer(key, salt="fastapi-csrf-token")
                return reader.loads(cookie, max_age=int(ABSOLUTE_SESSION.total_seconds()) // 2), None
            except BadData:
                pass
        return csrf.generate_csrf_tokens()

    def _account(request: Request):
        session = request.session
        started = session.get("login_at")
        if not session.get("username") or not started:
            return None
        if clock() - datetime.fromisoformat(started) > ABSOLUTE_SESSION:
            session.clear()
            return None
        return accounts.Account(session["username"], session["unit"])

    def unit_name(unit_code: str) -> str:
        return reference_data().units[unit_code].name_zh

    def login_page(request: Request, status: int = 200, message: str | None = None):
        return render(request, "login.html", status, message=message)

    @app.get("/healthz")
    def healthz():
        return {"ok": True}

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request):
        return login_page(request)

    @app.post("/login", dependencies=checked)
    def login(request: Request, username: str = Form(""), password: str = Form("")):
        address = request.client.host if request.client else "-"
        name = username.strip().lower()[:64]
        # Failed attempts count: five a minute for a name from an address, twenty a minute from an address.
        if not (limiter.test(per_address, "login", address) and limiter.test(per_name, "login", address, name)):
            log.warning("login refused for %r from %s: too many failed attempts", name, address)
            return login_page(request, 429, "尝试次数过多，请一分钟后再试。Too many attempts: try again in a minute.")
        with psycopg.connect(dsn) as conn:
            account = accounts.authenticate(conn, name, password, clock())
        if account is None:
            limiter.hit(per_address, "login", address)
            limiter.hit(per_name, "login", address, name)
            log.info("login failed for %r from %s", name, address)
            return login_page(request, 401, "用户名或密码不正确。Wrong user name or password.")
        request.session.clear()
        request.session.update({"username": account.username, "unit": account.unit_code, "login_at": clock().isoformat()})
        log.info("login: %s (%s) from %s", account.username, account.unit_code, address)
        return RedirectResponse("/", status_code=303)

    @app.post("/logout", dependencies=checked)
    def logout(request: Request):
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request):
        account = _account(request)
        if account is None:
            return RedirectResponse("/login", status_code=303)
        with psycopg.connect(dsn) as conn:
            entries = history.history(conn, account.unit_code)
        periods = offered_periods(account.unit_code, clock(), months_offered)
        return render(request, "home.html", unit_name=unit_name(account.unit_code), periods=periods,
                      entries=entries, deadlines={p: _deadline_text(p) for p in periods})

    @app.get("/template")
    def template(request: Request, period: str):
        account = _account(request)
        if account is None:
            return RedirectResponse("/login", status_code=303)
        if period not in offered_periods(account.unit_code, clock(), months_offered):
            return render(request, "message.html", 400, message="请从列表中选择报送期。Choose a period from the list.")
        data = build_template(account.unit_code, period)
        name = template_file_name(account.unit_code, period)
        return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="{name}"', **_SECURITY_HEADERS})

    @app.post("/upload", dependencies=checked)
    async def upload(request: Request, period: str = Form(""), file: UploadFile = File(...)):
        account = _account(request)
        if account is None:
            return RedirectResponse("/login", status_code=303)
        if period not in offered_periods(account.unit_code, clock(), months_offered):
            return render(request, "message.html", 400, message="请从列表中选择报送期。Choose a period from the list.")
        data = await file.read()
        at = clock()
        address = request.client.host if request.client else None

        def check_place_record():  # seconds of judging: off the event loop, so other pages stay quick
            with psycopg.connect(dsn) as conn:
                found = uploads.check_upload(conn, data, file.filename or "", account.unit_code, period, at)
                placed = uploads.place(landing, found, data) if found.verdict.accepted else None
                return found, placed, uploads.record(conn, account.username, found, placed, at, address)

        checked, landed, upload_id = await run_in_threadpool(check_place_record)
        log.info("upload %s by %s for %s %s: %s %s, %s bytes%s", upload_id, account.username, account.unit_code,
                 period, checked.shown_name, checked.verdict.status, f"{checked.size:,}",
                 f", placed as {landed}" if landed else ", nothing placed")
        return RedirectResponse(f"/uploads/{upload_id}", status_code=303)

    def _own_upload(conn, account, upload_id: int):
        return conn.execute("select upload_id, period, file_name, verdict, reasons, row_counts, landed_path, "
                            "received_at, report_html, sha256 from portal.uploads "
                            "where upload_id = %s and unit_code = %s", (upload_id, account.unit_code)).fetchone()

    @app.get("/uploads/{upload_id}", response_class=HTMLResponse)
    def upload_result(request: Request, upload_id: int):
        account = _account(request)
        if account is None:
            return RedirectResponse("/login", status_code=303)
        with psycopg.connect(dsn) as conn:
            row = _own_upload(conn, account, upload_id)
            copy = uploads.earlier_copy(conn, account.unit_code, row[9], row[7], row[6]) if row else None
        if row is None:
            return render(request, "message.html", 404, message="没有这次上传。No such upload.")
        return render(request, "result.html", upload=row, earlier_copy=copy,
                      received=f"{row[7].astimezone(SHANGHAI):%Y-%m-%d %H:%M}", deadline=_deadline_text(row[1]))

    @app.get("/uploads/{upload_id}/report", response_class=HTMLResponse)
    def upload_report(request: Request, upload_id: int):
        account = _account(request)
        row = None
        if account is not None:
            with psycopg.connect(dsn) as conn:
                row = _own_upload(conn, account, upload_id)
        if row is None:
            return HTMLResponse("not found", status_code=404, headers=_REPORT_HEADERS)
        return HTMLResponse(row[8], headers=_REPORT_HEADERS)

    @app.get("/submissions/{submission_id}/report", response_class=HTMLResponse)
    def night_report(request: Request, submission_id: int):
        from halfsky.ingest.drop_report import render_html

        account = _account(request)
        if account is None:
            return RedirectResponse("/login", status_code=303)
        with psycopg.connect(dsn) as conn:
            found = history.night_findings(conn, account.unit_code, submission_id)
        if found is None:
            return HTMLResponse("not found", status_code=404, headers=_REPORT_HEADERS)
        verdict, drop_name = found
        return HTMLResponse(render_html(verdict, drop_name, submission_id), headers=_REPORT_HEADERS)

    def too_large_page(limit: int) -> bytes:
        rule = RULES["too_large"]
        return pages.get_template("too_large.html").render(zh=rule.zh, en=rule.en, limit=f"{upload_limit:,}").encode()

    with_session = SessionMiddleware(app, secret_key=key, session_cookie="halfsky_portal",
                                     max_age=session_minutes * 60, same_site="strict", https_only=https_only)
    return BodyLimit(with_session, upload_limit, too_large_page)


def _deadline_text(period: str) -> str:
    if not (is_month(period) or period.isdigit()):
        return ""
    return f"{deadline(period).astimezone(SHANGHAI):%Y-%m-%d %H:%M}"


_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'self'; "
                               "form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
# A report holds the sender's cells (escaped): nothing in it may run or load.
_REPORT_HEADERS = {**_SECURITY_HEADERS, "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                                                   "frame-ancestors 'self'"}


def portal_secret_key() -> str:
    import os

    from halfsky.config.private_files import secret

    if key := os.environ.get("HALFSKY_PORTAL_SECRET_KEY"):
        return key
    home = os.environ.get("HALFSKY_HOME")
    if not home:
        raise RuntimeError("set HALFSKY_PORTAL_SECRET_KEY (or HALFSKY_HOME, where one is made once)")
    Path(home).mkdir(parents=True, exist_ok=True)
    return secret(Path(home) / "portal_secret_key", 48)


def main(argv: list[str] | None = None) -> int:
    """``python -m halfsky.portal.app``: serve the page on HALFSKY_PORTAL_HOST:HALFSKY_PORTAL_PORT
    (127.0.0.1:8082 unless configured)."""
    import argparse
    import os

    import uvicorn

    p = argparse.ArgumentParser(prog="python -m halfsky.portal.app", description=main.__doc__)
    p.add_argument("--host", default=os.environ.get("HALFSKY_PORTAL_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("HALFSKY_PORTAL_PORT", "8082")))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    https = os.environ.get("HALFSKY_PORTAL_HTTPS_ONLY", "").lower() in ("1", "true", "yes")
    uvicorn.run(create_app(https_only=https), host=args.host, port=args.port, proxy_headers=False,
                log_level="info", server_header=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
