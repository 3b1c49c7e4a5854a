"""The docs' tables of platform facts, rendered from the platforms' own descriptions.

A page holds a generated table between two markers::

    <!-- generated: states:openai -->
    ...
    <!-- end generated -->

The name says what goes there: a table of :data:`TABLES`, or ``<kind>:<platform>`` for one of
:data:`PLATFORM_TABLES`. Everything comes from public facts in code: the platform records
(``platforms.registry.RECORDS``), their dialects' ``states`` and ``cancel_ack``, their connection
forms, and the transport's ``BOUNDS``. Prose around the markers stays hand-written.

``python docs/tables.py --write`` rewrites every block; without ``--write`` it lists the blocks
that differ and exits 1. ``tests/test_docs_tables.py`` and the docs build (``conf.py``) fail the
same way. It lives beside the pages it writes: docs tooling, not part of the installed package.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from airflow_ft_provider.connection_fields import COMMON_FIELDS, ConnField  # noqa: E402
from airflow_ft_provider.jobs import TuningJobState  # noqa: E402
from airflow_ft_provider.platforms.record import PlatformRecord  # noqa: E402
from airflow_ft_provider.platforms.registry import RECORDS  # noqa: E402
from airflow_ft_provider.transport.settings import BOUNDS, Bound  # noqa: E402

DOCS = ROOT / "docs"
#: What rewrites the blocks; every failure names it.
COMMAND = "python docs/tables.py --write"
BLOCK = re.compile(r"<!-- generated: (?P<name>[\w:-]+) -->\n(?P<body>.*?)<!-- end generated -->", re.S)


# -- rendering helpers ---------------------------------------------------------------------------


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "".join(f"| {' | '.join(cell.replace('|', '&#124;') for cell in line)} |\n" for line in lines)


def plain(text: str) -> str:
    """Text written for the UI or messages, shown as is (no Markdown or HTML read into it)."""
    return re.sub(r"([\\`*\[\]<>])", r"\\\1", text)


def code(values: Iterable[str]) -> str:
    return ", ".join(f"`{value}`" for value in values)


def number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else str(value)


def page(record: PlatformRecord) -> str:
    """The platform's connection page, as an absolute Sphinx document name."""
    return f"/connections/{record.name.replace('_', '-')}"


def link(record: PlatformRecord) -> str:
    return f"{{doc}}`{record.title} <{page(record)}>`"


def ended(state: TuningJobState) -> str:
    return "yes" if state.is_terminal else "no"


# -- tables about every platform -----------------------------------------------------------------


def platforms() -> str:
    """The platforms, each with its connection page: the list the index shows."""
    return "".join(f"- {link(r)}: connection type `{r.conn_type}`\n" for r in RECORDS.values())


def states() -> str:
    """Every normalized state, whether it has ended, and the native states of each platform that map to it."""
    header = ["Normalized", "Ended", *(r.title for r in RECORDS.values())]
    rows = []
    for state in TuningJobState:
        natives = [code(n for n, s in r.dialect.states.items() if s is state) for r in RECORDS.values()]
        if state is TuningJobState.UNKNOWN:
            natives = [", ".join(filter(None, (cell, "anything else"))) for cell in natives]
        rows.append([state.value, ended(state), *natives])
    return table(header, rows)


def conn_type_cell(r: PlatformRecord) -> str:
    """The record's own type, then the types it reads too: as they are, or when their ``platform`` extra names it."""
    others = [f"an existing {code(r.also_conn_types)}"] if r.also_conn_types else []
    others += [f"an existing {code((t,))} whose `platform` extra is `{r.name}`" for t in r.shared_conn_types]
    return f"`{r.conn_type}`" + (f" (or {', or '.join(others)})" if others else "")


def connection_types() -> str:
    header = ["Platform", "`conn_type`", "Default `conn_id`", "Password field", "Hook"]
    rows = [
        [
            link(r),
            conn_type_cell(r),
            f"`{r.default_conn_name}`",
            "hidden" if r.form.hide_password else r.form.key_field_label,
            f"`{r.hook_class_path}`",
        ]
        for r in RECORDS.values()
    ]
    return table(header, rows)


def field_rows(fields: Iterable[ConnField]) -> list[list[str]]:
    """Extras as a form shows them: name, label, default, meaning (choices and secrecy included)."""
    rows = []
    for f in fields:
        meaning = plain(f.description) + (f" One of {code(f.choices)}." if f.choices else "")
        shown = plain(f.label) + (" (secret)" if f.secret else "")
        default = "" if f.default is None else f"`{str(f.default).lower() if f.kind == 'boolean' else f.default}`"
        rows.append([f"`{f.name}`", shown, default, meaning])
    return rows


def common_extras() -> str:
    return table(["Extra", "Shown as", "Default", "Meaning"], field_rows(COMMON_FIELDS))


def default_of(bound: Bound) -> str:
    return "the platform's" if bound.platform_default else number(bound.default)


def range_of(bound: Bound) -> str:
    return f"{'above' if bound.low_open else 'from'} {number(bound.low)} to {number(bound.high)}"


def bounds() -> str:
    rows = [[f"`{name}`", b.meaning, default_of(b), range_of(b)] for name, b in BOUNDS.items()]
    return table(["Extra", "What it bounds", "Default", "Range"], rows)


def acks() -> str:
    """What each platform's cancel must answer (status 200) to count as acknowledged."""
    rows = [
        [r.title, plain(r.dialect.cancel_ack.describe()) + ("" if r.can_cancel else " (it has no cancel method)")]
        for r in RECORDS.values()
    ]
    return table(["Platform", "Acknowledgement (the body of a 200)"], rows)


def budgets() -> str:
    rows = [
        [
            r.title,
            "one answer lists every job" if r.largest_page is None else number(r.largest_page),
            number(r.requests_per_minute),
            plain(r.quota_source),
        ]
        for r in RECORDS.values()
    ]
    return table(["Platform", "Largest page", "Default budget (requests per minute)", "Why"], rows)


def labels() -> str:
    """What ``run_labels`` writes on each platform, and whether the reaper can read it back."""
    rows = []
    for r in RECORDS.values():
        rules = r.labels
        if rules is None:
            rows.append([r.title, "none: `run_labels` raises `ValueError`", "", "no"])
            continue
        form = "a mapping" if rules.key_name is None else f"a list of `{{{rules.key_name}, {rules.value_name}}}`"
        chars = "" if rules.charset is None else f" of `[{rules.charset}]`"
        limits = f"keys {rules.max_key_length}, values {rules.max_value_length} characters{chars}"
        rows.append([r.title, f"`{rules.field}`: {form}", limits, "yes" if r.has_labels else "no: listings omit them"])
    return table(["Platform", "Create call's field", "Limits (longer or other values are encoded)", "Reaper"], rows)


def toctree() -> str:
    """The connection pages, for the connections index's table of contents."""
    pages = "".join(f"{page(r).rsplit('/', 1)[1]}\n" for r in RECORDS.values())
    return f"```{{toctree}}\n:maxdepth: 1\n\n{pages}```\n"


# -- tables about one platform -------------------------------------------------------------------


def platform_states(record: PlatformRecord) -> str:
    rows = [[f"`{native}`", state.value, ended(state)] for native, state in record.dialect.states.items()]
    rows.append(["anything else", "UNKNOWN (kept in `native_state`)", ended(TuningJobState.UNKNOWN)])
    return table(["Native", "Normalized", "Ended"], rows)


def platform_form(record: PlatformRecord) -> str:
    """The form's standard fields, then the platform's own extras (the common ones are on the index)."""
    ui = record.form.ui
    standard = [
        [
            name.capitalize(),
            ui["relabeling"].get(name, name.capitalize()),
            code(filter(None, [ui["placeholders"].get(name)])),
            "",
        ]
        for name in ("host", "login", "password")
        if name not in ui["hidden-fields"]
    ]
    own = field_rows(f for f in record.form.fields if f not in COMMON_FIELDS)
    return table(["Field", "Shown as", "Placeholder or default", "Meaning"], [*standard, *own])


TABLES: dict[str, Callable[[], str]] = {
    "platforms": platforms,
    "states": states,
    "connection-types": connection_types,
    "common-extras": common_extras,
    "bounds": bounds,
    "acks": acks,
    "budgets": budgets,
    "labels": labels,
    "toctree": toctree,
}
PLATFORM_TABLES: dict[str, Callable[[PlatformRecord], str]] = {"states": platform_states, "form": platform_form}


def render(name: str) -> str:
    """The block called ``name``; KeyError names what exists."""
    kind, _, platform = name.partition(":")
    if not platform:
        return TABLES[kind]()
    if kind not in PLATFORM_TABLES or platform not in RECORDS:
        raise KeyError(f"no table {name!r}: kinds {sorted(PLATFORM_TABLES)}, platforms {sorted(RECORDS)}")
    return PLATFORM_TABLES[kind](RECORDS[platform])


# -- the pages -----------------------------------------------------------------------------------


def pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)


def regenerated(text: str) -> str:
    return BLOCK.sub(lambda m: f"<!-- generated: {m['name']} -->\n{render(m['name'])}<!-- end generated -->", text)


def stale() -> list[str]:
    """The pages (relative to docs/) whose generated blocks differ from what the code says."""
    return [p.relative_to(DOCS).as_posix() for p in pages() if regenerated(p.read_text()) != p.read_text()]


def write() -> list[str]:
    changed = stale()
    for name in changed:
        path = DOCS / name
        path.write_text(regenerated(path.read_text()))
    return changed


def main(argv: Sequence[str]) -> int:
    if "--write" in argv:
        print("\n".join(f"rewrote docs/{name}" for name in write()) or "docs tables are current")
        return 0
    changed = stale()
    if changed:
        print(f"generated tables differ in: {', '.join(changed)}; run {COMMAND}", file=sys.stderr)
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
