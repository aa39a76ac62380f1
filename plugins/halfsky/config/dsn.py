"""Warehouse connection strings as libpq wants them, and as logs may show them."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact(dsn: str) -> str:
    """The DSN without its password, for logs and messages."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def normalise_dsn(uri: str) -> str:
    """Airflow writes postgres:// and postgresql+psycopg://; libpq wants postgresql://."""
    scheme, sep, rest = uri.partition("://")
    if sep and (scheme == "postgres" or scheme.startswith("postgresql")):
        return "postgresql://" + rest
    return uri
