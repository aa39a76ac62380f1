"""Opening landing and quarantine URLs: a local path, or ``s3://bucket/prefix`` on AWS S3, MinIO or any S3 API.

An ``s3://`` URL takes its credentials and endpoint from one Airflow connection
of type aws (``halfsky_object_store``, or the one the variable
``object_store_conn_id`` names): login = access key id, password = secret
access key, extra ``endpoint_url``, ``region_name``, optionally
``aws_session_token`` and ``config_kwargs`` (botocore's Config, e.g.
``{"s3": {"addressing_style": "path"}}``). Inside a task Airflow looks the
connection up (its secrets backends, ``AIRFLOW_CONN_*``, the metadata
database); command-line tools read ``AIRFLOW_CONN_<ID>`` directly, as a URI or
JSON. With no such connection, s3fs uses the default AWS credential chain (an
instance role, ``AWS_*`` variables). Secrets are never logged.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator
from urllib.parse import parse_qsl, unquote, urlsplit

import fsspec

from halfsky.config.settings import object_store_conn_id


class ObjectStoreError(RuntimeError):
    """The object store refused us or could not be reached: a setup problem, never a drop's fault."""


@dataclass(frozen=True)
class _Connection:
    login: str | None
    password: str | None
    extra: dict = field(default_factory=dict)


def is_s3_url(url: str) -> bool:
    return url.lower().startswith(("s3://", "s3a://"))


def storage_options(url: str) -> dict:
    """s3fs's options for an ``s3://`` URL from the object-store connection; empty for anything else."""
    if not is_s3_url(url):
        return {}
    conn = _connection(object_store_conn_id())
    if conn is None:
        return {}  # s3fs falls back to the default AWS credential chain
    options: dict = {}
    if conn.login:
        options["key"] = conn.login
    if conn.password:
        options["secret"] = conn.password
    if conn.extra.get("aws_session_token"):
        options["token"] = conn.extra["aws_session_token"]
    if conn.extra.get("endpoint_url"):
        options["endpoint_url"] = conn.extra["endpoint_url"]
    if conn.extra.get("region_name"):
        options["client_kwargs"] = {"region_name": conn.extra["region_name"]}
    config = conn.extra.get("config_kwargs")
    if config:  # a URI's query can only carry it as JSON text
        options["config_kwargs"] = json.loads(config) if isinstance(config, str) else dict(config)
    return options


def filesystem(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and the path inside it for a landing or quarantine URL."""
    fs, path = fsspec.core.url_to_fs(url, **storage_options(url))
    if is_s3_url(url):
        # fsspec hands back one shared instance per set of options (a new client costs a fraction of a second),
        # and s3fs keeps its listings for good: forget them, so a drop that landed since is seen.
        fs.invalidate_cache()
    return fs, path


def is_missing_bucket(exc: BaseException) -> bool:
    """s3fs reports a missing bucket as FileNotFoundError, like a missing key: only the S3 error code tells them apart."""
    return _s3_error_code(exc) == "NoSuchBucket"


@contextmanager
def explained_errors(url: str) -> Iterator[None]:
    """Turn an object store's refusal or silence into an ObjectStoreError that names the connection to fix,
    instead of a stack of botocore internals. Local paths' errors pass through unchanged."""
    if not is_s3_url(url):
        yield
        return
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

    try:
        yield
    except PermissionError as exc:
        raise ObjectStoreError(f"{url}: access denied to {_credential_source()} ({_describe(exc)}); check its login "
                               "(access key id), password (secret access key), and that the key may list, read and "
                               "write there") from None
    except NoCredentialsError:
        conn_id = object_store_conn_id()
        raise ObjectStoreError(f"{url}: no credentials: define the Airflow connection '{conn_id}' (type aws; login = "
                               f"access key id, password = secret access key) or set AIRFLOW_CONN_{conn_id.upper()}") from None
    except EndpointConnectionError as exc:
        raise ObjectStoreError(f"{url}: the object store does not answer ({exc}); check endpoint_url in the extra of "
                               f"{_credential_source()}") from None
    except FileNotFoundError as exc:
        if not is_missing_bucket(exc):
            raise
        raise ObjectStoreError(f"{url}: the bucket does not exist at the endpoint of {_credential_source()}") from None
    except (BotoCoreError, ClientError) as exc:
        raise ObjectStoreError(f"{url}: the object store failed with {_credential_source()} ({_describe(exc)})") from None


def _credential_source() -> str:
    conn_id = object_store_conn_id()
    if _connection(conn_id) is None:
        return f"the default AWS credentials (no Airflow connection '{conn_id}' is defined)"
    return f"Airflow connection '{conn_id}'"


def _s3_error_code(exc: BaseException) -> str | None:
    """The S3 error code (SignatureDoesNotMatch, NoSuchBucket…) behind an error s3fs translated into an OSError."""
    for error in (exc, exc.__cause__):
        response = getattr(error, "response", None)
        if isinstance(response, dict):
            return response.get("Error", {}).get("Code")
    return None


def _describe(exc: BaseException) -> str:
    code = _s3_error_code(exc)
    return f"{code}: {exc}" if code and code not in str(exc) else str(exc)


def _connection(conn_id: str) -> _Connection | None:
    """The connection as Airflow sees it, else from ``AIRFLOW_CONN_<ID>`` (command-line tools, no Airflow context)."""
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
        return _Connection(conn.login or None, conn.password or None, conn.extra_dejson or {})
    except Exception:  # not defined, or no Airflow here: fall back to the environment
        pass
    raw = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}", "").strip()
    if not raw:
        return None
    return _parse_connection(raw)


def _parse_connection(raw: str) -> _Connection:
    """Airflow's two spellings of a connection in an environment variable: JSON, or a URI whose query is the extra."""
    if raw.startswith("{"):
        data = json.loads(raw)
        extra = data.get("extra") or {}
        return _Connection(data.get("login") or None, data.get("password") or None,
                           json.loads(extra) if isinstance(extra, str) else extra)
    parts = urlsplit(raw)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    extra = json.loads(query["__extra__"]) if "__extra__" in query else query
    return _Connection(unquote(parts.username) if parts.username else None,
                       unquote(parts.password) if parts.password else None, extra)
