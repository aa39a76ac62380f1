"""Load the national division codes and the home regions of issuing codes with COPY."""

from __future__ import annotations

import logging

from halfsky.contract.reference.code_history import home_regions
from halfsky.contract.reference.divisions import SOURCE, all_divisions
from halfsky.contract.reference.gb2260_revisions import SOURCE as HISTORY_SOURCE
from halfsky.contract.reference.romanised_names import english_name
from halfsky.warehouse.ddl import read_ddl
from halfsky.warehouse.schema import connect

log = logging.getLogger(__name__)

# Owned here rather than in ensure_schema: only this loader writes it, and it is rebuilt whole each time.
HOME_REGIONS_DDL = read_ddl("home_regions.sql")


def load_admin_divisions(dsn: str | None = None) -> int:
    """Replace the table's contents in one transaction; readers never see it half full."""
    divisions = sorted(all_divisions().values(), key=lambda d: d.code)
    with connect(dsn) as conn:
        conn.execute("lock table reference.admin_divisions in exclusive mode")
        conn.execute("delete from reference.admin_divisions")
        with conn.cursor().copy(
            "copy reference.admin_divisions (code, name_zh, name_en, level, province_code, prefecture_code, county_type,"
            " reporting_unit_code, longitude, latitude) from stdin"
        ) as copy:
            for d in divisions:
                copy.write_row((d.code, d.name_zh, english_name(d.name_zh), d.level, d.province_code, d.prefecture_code, d.county_type,
                                d.reporting_unit_code, d.longitude, d.latitude))
    log.info("loaded %d divisions from %s", len(divisions), SOURCE)
    return len(divisions)


def load_home_regions(dsn: str | None = None) -> int:
    """Replace reference.home_regions in one transaction, like the divisions."""
    regions = home_regions()
    with connect(dsn) as conn:
        conn.execute(HOME_REGIONS_DDL)
        conn.execute("lock table reference.home_regions in exclusive mode")
        conn.execute("delete from reference.home_regions")
        with conn.cursor().copy("copy reference.home_regions (code, region_code, level, method) from stdin") as copy:
            for r in regions.values():
                copy.write_row((r.code, r.region_code, r.level, r.method))
    log.info("resolved %d issuing codes from %s to current divisions", len(regions), HISTORY_SOURCE)
    return len(regions)
