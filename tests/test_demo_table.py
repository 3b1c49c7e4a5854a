"""The demo's summary table (demo/table.py): no column overflows, no job id is cut."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from airflow_ft_provider.jobs import Platform

_spec = importlib.util.spec_from_file_location("demo_table", Path(__file__).resolve().parents[1] / "demo" / "table.py")
assert _spec is not None and _spec.loader is not None
table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(table)

HEADER = ["DAG", "platform", "job", "before", "after", "confirmed", "note"]
LONGEST_PLATFORM = max((p.value for p in Platform), key=len)
LONG_ID = "ftjob-" + "0123456789abcdef" * 4  # 70 characters: longer than the 30 the table used to keep
NOTE = "started by the DAG; cancelled by the notifier after check_first_checkpoint failed, as designed"


def rows() -> list[list[str]]:
    return [
        ["example_cancel_tuning_job", "openai", "ftjob-abc", "RUNNING", "CANCELLED", "2.1 s", ""],
        ["example_tuning_pipeline", LONGEST_PLATFORM, LONG_ID, "RUNNING", "CANCELLED", "12.5 s", NOTE],
        ["(sweep: younger than 2 h)", "gemini", "tunedModels/x", "RUNNING", "RUNNING", "-", "left alone"],
    ]


def test_columns_line_up_whatever_their_content():
    lines = table.render(HEADER, rows(), right={5}, width=200)
    header = lines[0]
    starts = {name: header.index(f"  {name}") + 2 for name in HEADER[1:5]}
    for row in rows():
        line = next(line for line in lines if line.startswith(row[0]))
        for name, cell in zip(HEADER[1:5], row[1:5], strict=True):
            assert line[starts[name] : starts[name] + len(cell)] == cell, (name, line)
        end = header.index("confirmed") + len("confirmed")
        assert line[end - len(row[5]) : end] == row[5]  # right-aligned under its header
    assert LONGEST_PLATFORM == "azure_openai"


def test_no_job_id_is_cut_and_the_note_wraps_within_the_width():
    lines = table.render(HEADER, rows(), right={5}, width=180)
    assert LONG_ID in "\n".join(lines)
    assert all(len(line) <= 180 for line in lines), [len(line) for line in lines]
    assert " ".join(" ".join(lines).split()).count(NOTE) == 1  # wrapped, every word kept, once
    assert len(lines) > len(rows()) + 3  # the note took more than one line


def test_where_the_columns_leave_the_note_no_room_it_goes_below_its_row():
    lines = table.render(HEADER, rows(), right={5}, width=100)
    assert LONG_ID in "\n".join(lines)  # wider than 100 itself: kept whole all the same
    below = [line for line in lines if line.startswith(table.BELOW)]
    assert below and all(len(line) <= 100 for line in below)
    assert " ".join(" ".join(below).split()) == f"note {NOTE} left alone"
    row_line = next(line for line in lines if line.startswith("example_tuning_pipeline"))
    assert NOTE.split()[0] not in row_line


def test_summary_paragraphs_wrap_to_the_tables_width():
    lines = table.render(HEADER, rows(), right={5}, width=100)
    paragraph = table.paragraph("word " * 80, lines)
    assert max(len(line) for line in paragraph.splitlines()) <= max(len(line) for line in lines)
