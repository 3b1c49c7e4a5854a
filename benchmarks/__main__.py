"""``python -m benchmarks`` (what ``benchmarks/run`` calls): the benchmarks, one table.

Each benchmark prints its own table (with notes) as it finishes; the combined table comes
last, with the machine it ran on. ``--quick`` runs every benchmark at a tiny size to check
that it works (its figures mean nothing); the test suite does that.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.common import (
    Row,
    describe_machine,
    format_table,
    machine,
    prepare_env,
    print_rows,
    quiet_structlog,
    rows_to_json,
)
from benchmarks.results import RESULTS, report

BENCHMARKS = ("import", "bulk", "triggerer", "confirmation", "quota", "bulk_quota", "token_stall")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that every benchmark works")
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {', '.join(BENCHMARKS)}"
    )
    parser.add_argument("--runs", type=int, default=None, help="import cost: processes per variant (default 5)")
    parser.add_argument("--google-python", default=None, help="import cost: python of a venv with the Google provider")
    parser.add_argument("--jobs", type=int, default=None, help="bulk cancel: jobs per platform (default 1000)")
    parser.add_argument(
        "--limits", default="50:50,200:200", help="bulk cancel: rate limits RATE:BURST (default 50:50,200:200)"
    )
    parser.add_argument("--sizes", default=None, help="triggerer: trigger counts (default 1000,5000)")
    parser.add_argument("--waits", type=int, default=None, help="quota: waits per platform (default 2000/1000)")
    parser.add_argument("--platforms", default=None, help="quota: comma-separated platforms (default all four)")
    parser.add_argument("--duration", type=float, default=None, help="quota: seconds per variant (default 180)")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table and notes as Markdown")
    parser.add_argument(
        "--results", action="store_true", help=f"also write {RESULTS.name} (commit, command, load): after any change"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write every figure as JSON")
    args = parser.parse_args(argv)
    prepare_env()
    quiet_structlog(logging.ERROR)  # the in-process benchmark calls execute() outside a task runner
    selected = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(selected) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")

    from benchmarks import bulk_cancel, confirmation_latency, import_cost, quota, token_stall, triggerer_scale

    runners: dict[str, tuple[str, Callable[[], tuple[list[Row], list[str]]]]] = {
        "import": ("Import cost", lambda: import_cost.run(args.quick, args.runs, args.google_python)),
        "bulk": (
            "Bulk cancel",
            lambda: bulk_cancel.run(
                args.quick, args.jobs, limits=[bulk_cancel.Limit.parse(t) for t in args.limits.split(",") if t]
            ),
        ),
        "triggerer": (
            "Triggerer scale",
            lambda: triggerer_scale.run(args.quick, [int(n) for n in args.sizes.split(",")] if args.sizes else None),
        ),
        "confirmation": ("Confirmation latency", lambda: confirmation_latency.run(args.quick)),
        "quota": (
            "Quota",
            lambda: quota.run(
                args.quick, args.waits, [p for p in (args.platforms or "").split(",") if p] or None, args.duration
            ),
        ),
        "bulk_quota": ("Bulk cancel under quotas", lambda: bulk_cancel.run_quota(args.quick, args.jobs)),
        "token_stall": ("Token stall", lambda: token_stall.run(args.quick)),
    }
    command = "benchmarks/run " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    before = machine()
    started = time.monotonic()
    print(f"{command}\nstarted {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {describe_machine(before)}", flush=True)
    rows: list[Row] = []
    notes: dict[str, list[str]] = {}
    failed = False
    for name in selected:
        title, run = runners[name]
        section_started = time.monotonic()
        try:
            section_rows, section_notes = run()
        except Exception as exc:
            failed = True
            traceback.print_exc()
            section_rows = [Row(title, "did not complete", "", "", "", "", "ERROR", {"error": str(exc)[-2000:]})]
            section_notes = [f"error: {str(exc)[-500:]}"]
        section_notes.append(f"took {time.monotonic() - section_started:.0f} s")
        print_rows(title, section_rows, section_notes)
        rows += section_rows
        notes[title] = section_notes
    after = machine()
    took = time.monotonic() - started
    print(f"\n== All benchmarks ({took / 60:.1f} min; load average before {before['load']}, after {after['load']})")
    print(format_table(rows))
    if args.markdown:
        args.markdown.write_text(report(command, before, after, took, rows, notes))
    if args.results:
        RESULTS.write_text(report(command, before, after, took, rows, notes, generated=True))
    if args.json:
        payload: dict[str, Any] = {
            "command": command,
            "machine_before": before,
            "machine_after": after,
            "seconds": took,
            "rows": rows_to_json(rows),
            "notes": notes,
        }
        args.json.write_text(json.dumps(payload, indent=1, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
