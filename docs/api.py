"""The Python API reference, ``docs/api.md``, written from the code: readable in the repository.

Each public class gets its import, its docstring, a table of its parameters (type, default, whether
Airflow renders it as a template, meaning) and the members a user calls; each function its
signature and docstring; each enum its members. The parameters' meanings come from the
docstrings' ``:param name:`` lines and, for dataclasses and models, from the ``#:`` comments
above their fields. What the page shows is chosen in :data:`SECTIONS`; everything else is read.

``python docs/api.py --write`` rewrites the page; without ``--write`` it exits 1 when the page
differs from the code. ``tests/test_docs_api.py`` and the docs build (``conf.py``) fail the same
way. Docs tooling beside the page it writes, not part of the installed package.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "docs"))
from api_text import annotation, cell, code, default, field_docs, signature, split_doc  # noqa: E402

from airflow_ft_provider.platforms.registry import GROUP, RECORDS  # noqa: E402

PAGE = ROOT / "docs" / "api.md"
#: What rewrites the page; every failure names it.
COMMAND = "python docs/api.py --write"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One object of the page: ``path`` is ``module.Name``; ``members`` the methods and properties shown."""

    path: str
    members: tuple[str, ...] = ()

    @property
    def obj(self) -> Any:
        module, _, name = self.path.rpartition(".")
        return getattr(importlib.import_module(module), name)

    @property
    def name(self) -> str:
        return self.path.rpartition(".")[2]


def _hooks() -> list[Entry]:
    """Every built-in platform's hook, in the registry's order."""
    return [Entry(record.hook_class_path) for record in RECORDS.values()]


def _errors() -> list[Entry]:
    """Every exception of ``errors``, in the order the module defines them."""
    module = importlib.import_module("airflow_ft_provider.errors")
    classes = [c for c in vars(module).values() if inspect.isclass(c) and issubclass(c, Exception)]
    own = [c for c in classes if c.__module__ == module.__name__]
    own.sort(key=lambda c: inspect.getsourcelines(c)[1])
    return [Entry(f"{c.__module__}.{c.__name__}") for c in own]


HOOK_CALLS = ("get_job", "list_jobs", "list_all_jobs", "cancel_job", "aget_job", "alist_jobs", "acancel_job")
EMULATOR_CALLS = (
    "base_url", "api_key", "service_account_info", "seed", "seed_many", "job_state", "job_phase",
    "set_native_state", "jobs", "inject", "clear_faults", "set_latency", "set_rate_limit", "requests",
    "clear_requests", "revoke_tokens", "reset",
)  # fmt: skip
#: The page: (heading, introduction, entries), in order.
SECTIONS: list[tuple[str, str, Callable[[], list[Entry]]]] = [
    ("Operators", "", lambda: [
        Entry("airflow_ft_provider.operators.cancel.CancelTuningJobOperator"),
        Entry("airflow_ft_provider.operators.bulk_cancel.BulkCancelTuningJobsOperator"),
        Entry("airflow_ft_provider.operators.reaper.ReapOrphanedTuningJobsOperator"),
    ]),
    ("Run labels", "Labels a job is created with so that the reaper can find its run (docs/reaper.md).", lambda: [
        Entry("airflow_ft_provider.run_labels.run_labels"),
        Entry("airflow_ft_provider.airflow_state.AirflowStateUnavailableError"),
    ]),
    ("Sensor and trigger", "", lambda: [
        Entry("airflow_ft_provider.sensors.job_state.TuningJobStateSensor"),
        Entry("airflow_ft_provider.triggers.job_state.TuningJobStateTrigger"),
        Entry("airflow_ft_provider.triggers.job_state.JobStateEvent", ("parse",)),
    ]),
    ("Notifier", "", lambda: [
        Entry("airflow_ft_provider.notifications.cancel_job.CancelTuningJobNotifier", ("notify", "async_notify")),
        Entry("airflow_ft_provider.notifications.cancel_job.cancel_tuning_job_on_failure"),
    ]),
    ("Hooks", "`get_hook` picks the hook from the connection's type; each hook takes a `conn_id` and "
     "offers the calls of `TuningJobHook`.", lambda: [
        Entry("airflow_ft_provider.hooks.registry.get_hook"),
        Entry("airflow_ft_provider.hooks.base.TuningJobHook", (*HOOK_CALLS, "test_connection")),
        *_hooks(),
    ]),
    ("Jobs and states", "", lambda: [
        Entry("airflow_ft_provider.jobs.TuningJob", ("is_terminal", "running_since", "to_xcom")),
        Entry("airflow_ft_provider.jobs.JobUsage"),
        Entry("airflow_ft_provider.jobs.TuningJobState"),
        Entry("airflow_ft_provider.jobs.Platform"),
        Entry("airflow_ft_provider.job_filter.JobFilter", ("select", "matches", "describe")),
    ]),
    ("Errors", "Every error the provider raises about a platform or a connection is a `TuningJobError`.",
     lambda: [*_errors(), Entry("airflow_ft_provider.job_filter.TooManyJobsError")]),
    ("Platforms", f"Another package adds a platform with an entry point in the group `{GROUP}` "
     "(see [Writing a platform](writing-a-platform.md)).", lambda: [
        Entry("airflow_ft_provider.platforms.registry.record_for"),
        Entry("airflow_ft_provider.platforms.record.PlatformRecord",
              ("hook_name", "largest_page", "hook_class_path", "default_conn_name", "conn_types")),
    ]),
    ("Testing: the emulators", "", lambda: [
        Entry("airflow_ft_provider.testing.emulator.Emulator", ("start", "stop", "serve_forever")),
        Entry("airflow_ft_provider.testing.core.EmulatorCore", EMULATOR_CALLS),
        Entry("airflow_ft_provider.testing.core.EmulatorConfig"),
        Entry("airflow_ft_provider.testing.store.JobScript"),
        Entry("airflow_ft_provider.testing.faults.Fault", ("status", "drop", "slow", "malformed")),
        Entry("airflow_ft_provider.testing.remote.RemoteEmulator"),
        Entry("airflow_ft_provider.testing.reqlog.RequestRecord"),
        Entry("airflow_ft_provider.testing.connections.airflow_connection"),
        Entry("airflow_ft_provider.testing.dags.run_dag_file"),
        Entry("airflow_ft_provider.testing.dags.run_dag_source"),
        Entry("airflow_ft_provider.testing.dags.RunResult", ("xcom",)),
    ]),
    ("Smoke check", "`python -m airflow_ft_provider check <conn_id>` (docs/smoke-check.md) in Python.", lambda: [
        Entry("airflow_ft_provider.smoke.run_check"),
        Entry("airflow_ft_provider.smoke.CheckReport", ("healthy", "to_text", "to_json")),
        Entry("airflow_ft_provider.smoke.Exchange"),
        Entry("airflow_ft_provider.smoke.Failure"),
    ]),
]  # fmt: skip


# -- rendering -----------------------------------------------------------------------------------


def templated_fields(cls: type) -> set[str]:
    """Parameters Airflow renders: a template field named after one, or ``is_<name>`` where
    ``BaseOperator`` already has ``<name>`` (the bulk operator's ``dry_run``)."""
    fields = set(getattr(cls, "template_fields", ()))
    return fields | {f.removeprefix("is_") for f in fields}


def parameters(obj: Any, described: dict[str, str]) -> list[str]:
    """The parameter table of a class (its constructor) or function."""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    params = [p for p in signature.parameters.values() if p.name != "self"]
    if not params:
        return []
    templated = templated_fields(obj) if inspect.isclass(obj) else set()
    header = ["Parameter", "Type", "Default", *(["Templated"] if templated else []), "Meaning"]
    rows = []
    for p in params:
        meaning = described.get(p.name, "")
        if p.kind is p.VAR_KEYWORD and not meaning and inspect.isclass(obj):
            base = next(b for b in obj.__mro__[1:] if not b.__module__.startswith("airflow_ft_provider"))
            known = [f"`{n}`" for n in ("task_id", "retries") if n in inspect.signature(base).parameters]
            meaning = f"passed on to `{base.__name__}`" + (f" ({', '.join(known)}, ...)" if known else "")
        name = {p.VAR_KEYWORD: "**", p.VAR_POSITIONAL: "*"}.get(p.kind, "") + p.name
        shown = "" if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) else default(p.default)
        flag = ["yes" if p.name in templated else ""] if templated else []
        rows.append([code(name), code(annotation(p.annotation)), shown, *flag, cell(meaning)])
    lines = [header, ["---"] * len(header), *rows]
    return ["", *(f"| {' | '.join(line)} |" for line in lines)]


def member(cls: type, name: str) -> list[str]:
    raw = inspect.getattr_static(cls, name)
    target = raw.fget if isinstance(raw, property) else getattr(cls, name)
    text, described = split_doc(target)
    if isinstance(raw, property) or not callable(target):
        title = f"#### `{name}` (property)"
        table: list[str] = []
    else:
        title = f"#### `{name}{signature(target)}`"
        table = parameters(target, described) if described else []
    return ["", title, *(["", text] if text else []), *table]


def entry(item: Entry) -> list[str]:
    obj = item.obj
    module = obj.__module__
    text, described = split_doc(obj)
    if inspect.isfunction(obj):
        return [
            f"### `{item.name}`",
            "",
            f"`from {module} import {item.name}`",
            "",
            f"`{item.name}{signature(obj)}`",
            "",
            text,
        ]
    bases = [b for b in obj.__bases__ if b is not object]
    lines = [f"### `{item.name}`", "", f"`from {module} import {item.name}`"]
    if bases:
        lines[-1] += f" (subclass of {', '.join(code(b.__name__) for b in bases)})"
    lines += ["", text] if text else []
    record = next((r for r in RECORDS.values() if r.hook_class_path == item.path), None)
    if record is not None:
        lines += ["", f'Connection type `{record.conn_type}` ("{record.hook_name}"), default `conn_id` '
                  f"`{record.default_conn_name}`."]  # fmt: skip
    if issubclass(obj, Exception):
        retried = "retried by the transport" if getattr(obj, "retryable", False) else "not retried"
        lines += ["", f"`retryable`: {getattr(obj, 'retryable', False)} ({retried})."]
    elif issubclass(obj, enum.Enum):
        lines += ["", "Members: " + ", ".join(f"`{m.name}` (`{m.value!r}`)" for m in obj) + "."]
    else:
        lines += parameters(obj, {**field_docs(obj), **described})
    fields = getattr(obj, "template_fields", ())
    if fields:
        lines += ["", f"Templated fields (as Airflow names them): {', '.join(code(f) for f in fields)}."]
    for name in item.members:
        lines += member(obj, name)
    return lines


def page() -> str:
    lines = [
        "# Python API reference",
        "",
        f"<!-- Written by `{COMMAND}` from the code's docstrings: edit those, then run it. -->",
        "",
        "Import from the modules shown: the package's `__init__` stays empty so that DAG files pay only",
        'for what they use. Templated parameters take Jinja (`"{{ params.x }}"`, an XCom pull), rendered',
        "before the task runs.",
    ]
    for heading, intro, entries in SECTIONS:
        lines += ["", f"## {heading}", *(["", intro] if intro else [])]
        for item in entries():
            lines += ["", *entry(item)]
    return "\n".join(lines) + "\n"


def stale() -> bool:
    return PAGE.read_text() != page()


def main(argv: Sequence[str]) -> int:
    if "--write" in argv:
        changed = stale()
        PAGE.write_text(page())
        print("rewrote docs/api.md" if changed else "docs/api.md is current")
        return 0
    if stale():
        print(f"docs/api.md differs from the code: run {COMMAND}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
