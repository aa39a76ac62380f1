"""Where halfsky finds its warehouse, landing zone, quarantine and secrets.

Inside an Airflow task these come from the ``warehouse_db`` connection and the
``landing_url``/``quarantine_url`` variables (which Airflow also reads from
``AIRFLOW_CONN_*``/``AIRFLOW_VAR_*``); command-line tools read the same
environment variables directly, so both see one configuration.
"""

from __future__ import annotations

import os

from halfsky.config.dsn import normalise_dsn

WAREHOUSE_CONN_ID = "warehouse_db"
PERSON_KEY_CONN_ID = "person_hmac_key"
OBJECT_STORE_CONN_ID = "halfsky_object_store"


class MissingSetting(RuntimeError):
    pass


def _airflow_connection_uri(conn_id: str) -> str | None:
    try:
        from airflow.sdk import BaseHook
    except ImportError:
        return None
    try:
        return BaseHook.get_connection(conn_id).get_uri()
    except Exception:  # not defined, or no Airflow context: fall back to env
        return None


def warehouse_dsn() -> str:
    for name in ("WAREHOUSE_DSN", "AIRFLOW_CONN_WAREHOUSE_DB"):
        if os.environ.get(name, "").strip():
            return normalise_dsn(os.environ[name].strip())
    uri = _airflow_connection_uri(WAREHOUSE_CONN_ID)
    if uri:
        return normalise_dsn(uri)
    raise MissingSetting(
        f"no warehouse: define the Airflow connection '{WAREHOUSE_CONN_ID}' "
        "or set AIRFLOW_CONN_WAREHOUSE_DB=postgresql://user:password@host:port/db"
    )


def _variable(name: str) -> str | None:
    env_value = os.environ.get(f"AIRFLOW_VAR_{name.upper()}")
    if env_value:
        return env_value
    try:
        from airflow.sdk import Variable

        return Variable.get(name, default=None)
    except Exception:  # no Airflow context
        return None


def landing_url() -> str:
    value = _variable("landing_url")
    if not value:
        raise MissingSetting("no landing zone: set the Airflow variable 'landing_url' (AIRFLOW_VAR_LANDING_URL)")
    return value


def quarantine_url() -> str:
    """Rejected drops and their reports; defaults to a sibling of the landing root."""
    value = _variable("quarantine_url")
    if value:
        return value
    return landing_url().rstrip("/") + "_quarantine"


def object_store_conn_id() -> str:
    """The Airflow connection (type aws) holding the key, secret and endpoint for s3:// landing and quarantine URLs."""
    return _variable("object_store_conn_id") or OBJECT_STORE_CONN_ID


def person_hmac_key() -> bytes:
    """The secret that turns an id number into a beneficiary key; never in the repo."""
    value = os.environ.get("HALFSKY_PERSON_HMAC_KEY", "").strip()
    if not value:
        try:
            from airflow.sdk import BaseHook

            value = (BaseHook.get_connection(PERSON_KEY_CONN_ID).password or "").strip()
        except Exception:
            value = ""
    if len(value) < 16:
        raise MissingSetting(
            "no person key: set HALFSKY_PERSON_HMAC_KEY (at least 16 characters) or the password of "
            f"the Airflow connection '{PERSON_KEY_CONN_ID}'. Beneficiaries cannot be keyed without it."
        )
    return value.encode()


DEFAULT_RETENTION_MONTHS = 36
RETENTION_VARIABLE = "personal_data_retention_months"


def retention_months() -> int:
    """How long raw keeps id numbers and names (halfsky.warehouse.retention): the Airflow variable
    personal_data_retention_months (AIRFLOW_VAR_PERSONAL_DATA_RETENTION_MONTHS), else 36 months."""
    value = _variable(RETENTION_VARIABLE)
    if value in (None, ""):
        return DEFAULT_RETENTION_MONTHS
    months = int(value)
    if months < 1:
        raise MissingSetting(f"{RETENTION_VARIABLE} must be at least 1 month, not {months}")
    return months


def address_list(value: str | None) -> list[str]:
    """Mail addresses as admins type them into a Variable: separated by commas or semicolons, spaces around."""
    return [address.strip() for address in (value or "").replace(";", ",").split(",") if address.strip()]


UNIT_EMAILS_VARIABLE = "unit_emails"


def unit_email_addresses() -> dict[str, list[str]]:
    """Where each reporting unit hears of its own drops: the Airflow variable unit_emails
    (AIRFLOW_VAR_UNIT_EMAILS), a JSON object of unit code to comma-separated addresses; {} when unset."""
    import json

    value = _variable(UNIT_EMAILS_VARIABLE)
    if not value:
        return {}
    mapping = json.loads(value)
    if not isinstance(mapping, dict):
        raise MissingSetting(f"{UNIT_EMAILS_VARIABLE} must be a JSON object of unit code to addresses")
    return {str(unit): address_list(str(addresses)) for unit, addresses in mapping.items()}


CLOSE_AFTER_DAYS_VARIABLE = "close_after_days"


def close_after_days() -> int | None:
    """Days after a period's deadline at which an unapproved period closes by itself: the Airflow variable
    close_after_days (AIRFLOW_VAR_CLOSE_AFTER_DAYS), a whole number of days; unset (the default), never."""
    value = _variable(CLOSE_AFTER_DAYS_VARIABLE)
    if value in (None, ""):
        return None
    days = int(str(value).strip())
    if days < 0:
        raise MissingSetting(f"{CLOSE_AFTER_DAYS_VARIABLE} must be 0 or more days, not {days}")
    return days
