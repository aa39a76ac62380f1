"""The demo's task logs for the UI (halfsky_dev.dags_test_logs): a `dags test` console log cut per task and try."""

from __future__ import annotations

import json

from halfsky_dev.dags_test_logs import as_json_line, task_sections

LOG = """\
2026-12-06T16:41:21.100000Z [info     ] created dagrun [airflow.models.dagrun] loc=dag.py:1
2026-12-06T16:41:21.169404Z [info     ] [DAG TEST] starting task_id=needs_attention map_index=0 [airflow.sdk.definitions.dag]
2026-12-06T16:41:21.225999Z [warning  ] REJECTED  150200/2026-09/x.json | code_list×1 | report: r.html [halfsky.orchestration.pipeline]
2026-12-06T16:41:21.226114Z [error    ] Task exited                    [task] exit_code='150200 包头市: 1 rejected'
2026-12-06T16:41:21.250809Z [info     ] [DAG TEST] end task task_id=needs_attention map_index=0 [airflow.sdk.definitions.dag]
2026-12-06T16:41:21.251095Z [info     ] [DAG TEST] starting task_id=summarize map_index=-1 [airflow.sdk.definitions.dag]
a line a task printed itself
2026-12-06T16:41:21.300000Z [info     ] [DAG TEST] end task task_id=summarize map_index=-1 [airflow.sdk.definitions.dag]
2026-12-06T16:41:22.000000Z [info     ] [DAG TEST] starting task_id=summarize map_index=-1 [airflow.sdk.definitions.dag]
2026-12-06T16:41:22.100000Z [info     ] [DAG TEST] end task task_id=summarize map_index=-1 [airflow.sdk.definitions.dag]
"""


def test_each_task_and_try_gets_its_own_lines_and_nothing_between_tasks():
    sections = task_sections(LOG)
    assert set(sections) == {("needs_attention", 0), ("summarize", -1)}
    [attention] = sections[("needs_attention", 0)]
    assert len(attention) == 4 and "REJECTED  150200/2026-09/x.json" in attention[1]
    assert len(sections[("summarize", -1)]) == 2  # two tries, in order
    assert "a line a task printed itself" in sections[("summarize", -1)][0][1]
    assert not any("created dagrun" in line for tries in sections.values() for lines in tries for line in lines)


def test_a_console_line_becomes_the_structured_line_the_ui_reads():
    line = json.loads(as_json_line(LOG.splitlines()[3]))
    assert line["timestamp"] == "2026-12-06T16:41:21.226114Z" and line["level"] == "error"
    assert line["event"].startswith("Task exited") and "包头市" in line["event"]
    assert json.loads(as_json_line("a line a task printed itself")) == {"event": "a line a task printed itself"}
