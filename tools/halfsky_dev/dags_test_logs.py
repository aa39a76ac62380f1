"""Task logs in the Airflow UI for runs made with `airflow dags test` (the demo's).

`airflow dags test` runs each task in its own process and prints the task's log with everything else, so the UI
finds no log file for those tasks. Its ``--use-executor`` mode would write them, but in Airflow 3.3.2 it stops
with "Callback sink is not ready" as soon as a task fails, and a night with a rejected drop has red
``needs_attention`` boxes by design. So the demo cuts its log at the ``[DAG TEST] starting`` / ``end task``
lines and writes each task's lines, as the JSON lines a task writes itself, to the file Airflow's own
FileTaskHandler reads for that task instance and try.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from halfsky.config.private_files import write_private

_START = re.compile(r"\[DAG TEST\] starting task_id=(?P<task>\S+) map_index=(?P<map>-?\d+)")
_END = re.compile(r"\[DAG TEST\] end task task_id=(?P<task>\S+) map_index=(?P<map>-?\d+)")
_CONSOLE = re.compile(r"^(?P<timestamp>\d{4}-\d\d-\d\dT[\d:.]+Z) \[(?P<level>\w+)\s*\] (?P<event>.*)$")


def task_sections(log_text: str) -> dict[tuple[str, int], list[list[str]]]:
    """{(task_id, map_index): [the lines of each try, in order]} from a `dags test` console log."""
    sections: dict[tuple[str, int], list[list[str]]] = {}
    current: list[str] | None = None
    for line in log_text.splitlines():
        if started := _START.search(line):
            current = []
            sections.setdefault((started["task"], int(started["map"])), []).append(current)
        if current is not None:
            current.append(line)
        if _END.search(line):
            current = None
    return sections


def as_json_line(line: str) -> str:
    """A console line as the structured line a task writes (timestamp, level, event); other lines as the event."""
    parsed = _CONSOLE.match(line)
    fields = parsed.groupdict() if parsed else {"event": line}
    return json.dumps(fields, ensure_ascii=False)


def write_task_logs(dag_id: str, log_text: str) -> int:
    """Write the task logs of the newest run of ``dag_id`` found in ``log_text``; returns how many were written."""
    from airflow.configuration import conf
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.log.file_task_handler import FileTaskHandler
    from airflow.utils.session import create_session
    from sqlalchemy import select

    runs = re.findall(rf"<TaskInstance: {re.escape(dag_id)}\.\S+ (\S+)", log_text)
    if not runs:
        return 0
    sections = task_sections(log_text)
    handler = FileTaskHandler(conf.get("logging", "base_log_folder"))
    written = 0
    with create_session() as session:
        for ti in session.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_id,
                                                             TaskInstance.run_id == runs[-1])):
            for try_number, lines in enumerate(sections.get((ti.task_id, ti.map_index), []), start=1):
                path = Path(handler.local_base, handler._render_filename(ti, try_number, session=session))
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                # the drops' names and verdicts: for the admins, not for other accounts on the machine
                write_private(path, "".join(as_json_line(line) + "\n" for line in lines), encoding="utf-8")
                written += 1
    return written
