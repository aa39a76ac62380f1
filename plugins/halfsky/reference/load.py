"""Load the national division codes into reference.admin_divisions with COPY."""

from __future__ import annotations

import logging

from halfsky.reference.divisions import SOURCE, all_divisions
from halfsky.warehouse import connect

log = logging.getLogger(__name__)


def load_admin_divisions(dsn: str | None = None) -> int:
    """Replace the table's contents in one transaction; readers never see it half full."""
    divisions = sorted(all_divisions().values(), key=lambda d: d.code)
    with connect(dsn) as conn:
        conn.execute("lock table reference.admin_divisions in exclusive mode")
        conn.execute("delete from reference.admin_divisions")
        with conn.cursor().copy(
            "copy reference.admin_divisions (code, name_zh, level, province_code, prefecture_code, longitude, latitude) from stdin"
        ) as copy:
            for d in divisions:
                copy.write_row((d.code, d.name_zh, d.level, d.province_code, d.prefecture_code, d.longitude, d.latitude))
    log.info("loaded %d divisions from %s", len(divisions), SOURCE)
    return len(divisions)
