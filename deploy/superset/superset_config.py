# superset_config.py for halfsky's Superset 6.1.0 (`make bi`, tools/halfsky_dev/bi.py).
# Loaded because SUPERSET_CONFIG_PATH points here; it overrides superset/config.py.
# Nothing secret lives in this file: halfsky_dev.bi passes the secret key and the paths
# in the environment (SUPERSET_SECRET_KEY, SUPERSET_HOME = <HALFSKY_HOME>/superset/home).
import os

# --- secrets & metadata DB -------------------------------------------------
SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]  # fail loudly if missing
_HOME = os.environ["SUPERSET_HOME"]  # Superset's own metadata (SQLite), logs, uploads
SQLALCHEMY_DATABASE_URI = (
    "sqlite:///" + os.path.join(_HOME, "superset.db") + "?check_same_thread=false"
)

# --- no telemetry / no outbound calls --------------------------------------
# Superset 6.1.0's prebuilt frontend renders the Scarf pixel unconditionally:
# the upstream check `process.env.SCARF_ANALYTICS === 'false'` is a webpack
# build-time constant, so the env var does nothing at run time for the PyPI
# wheel. The only runtime lever is the Content-Security-Policy: drop the
# scarf.sh hosts (and every other third-party host) from img-src/connect-src
# so the browser refuses to load them.
TALISMAN_ENABLED = True
_CSP = {
    "base-uri": ["'self'"],
    "default-src": ["'self'"],
    "img-src": ["'self'", "blob:", "data:"],
    "worker-src": ["'self'", "blob:"],
    "connect-src": ["'self'"],
    "object-src": "'none'",
    "style-src": ["'self'", "'unsafe-inline'"],
    "font-src": ["'self'", "data:"],
    "script-src": ["'self'", "'strict-dynamic'"],
}
TALISMAN_CONFIG = {
    "content_security_policy": _CSP,
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,
    "session_cookie_secure": False,
}
TALISMAN_DEV_CONFIG = TALISMAN_CONFIG
THEME_FONT_URL_ALLOWED_DOMAINS = []  # no Google Fonts / Typekit
MAPBOX_API_KEY = ""
# no external help / bug-report links in the navbar
BUG_REPORT_URL = None
DOCUMENTATION_URL = None
# Stats logger is a no-op by default (DummyStatsLogger); keep it.
# (DO_NOT_TRACK=1 and SCARF_ANALYTICS=false are exported by halfsky_dev.bi as well.)

# --- API use ---------------------------------------------------------------
# CSRF stays ON. Scripts fetch /api/v1/security/csrf_token/ with their JWT and
# send it back as X-CSRFToken together with the session cookie they got.
WTF_CSRF_ENABLED = True
WTF_CSRF_TIME_LIMIT = None

# --- misc ------------------------------------------------------------------
FEATURE_FLAGS = {
    # nothing is needed for import/export in 6.1 (versioned export is always on)
}
# rate limiting is only on when SUPERSET_ENV=production; keep it off locally
RATELIMIT_ENABLED = False
PREVENT_UNSAFE_DB_CONNECTIONS = True

# Default 6.1 config has ENABLE_CORS=True with OSM tile hosts as origins; not needed.
ENABLE_CORS = False
# Map base layers for deck.gl charts. 6.1's default list starts with
# https://tile.openstreetmap.org (no Mapbox key needed, but external). With
# HALFSKY_TILE_URL set (an XYZ server inside the network, e.g.
# http://tiles.internal/{z}/{x}/{y}.png) it becomes the only base map and its
# origin is allowed in the CSP; without it the default (external) list stays, the
# CSP blocks every tile and deck.gl draws its points on a blank background.
_TILE_URL = os.environ.get("HALFSKY_TILE_URL", "")
if _TILE_URL:
    from urllib.parse import urlsplit as _us
    _origin = "{0.scheme}://{0.netloc}".format(_us(_TILE_URL))
    _CSP["connect-src"].append(_origin)
    _CSP["img-src"].append(_origin)
    DECKGL_BASE_MAP = [["tile://" + _TILE_URL, "本地底图 Local tiles"]]

# UI language: 6.1 ships zh translations but LANGUAGES = {} (English only) by default.
# SUPERSET_LOCALE=zh makes Chinese the default; the navbar's language menu switches.
LANGUAGES = {"zh": {"flag": "cn", "name": "简体中文"}, "en": {"flag": "us", "name": "English"}}
BABEL_DEFAULT_LOCALE = os.environ.get("SUPERSET_LOCALE", "en")
