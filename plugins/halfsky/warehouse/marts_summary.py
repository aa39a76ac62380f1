"""What landed in the marts: row counts and headline totals, for logs and the demo."""

from __future__ import annotations

from halfsky.warehouse.schema import connect


def table_counts(dsn: str | None = None, schema: str = "marts") -> dict[str, int]:
    with connect(dsn) as conn:
        tables = [r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = %s and table_type = 'BASE TABLE' "
            "order by table_name", (schema,))]
        return {t: conn.execute(f'select count(*) from "{schema}"."{t}"').fetchone()[0] for t in tables}


def format_counts(counts: dict[str, int]) -> str:
    width = max((len(t) for t in counts), default=10)
    return "\n".join(f"  {t:<{width}}  {n:>10,}" for t, n in counts.items())
