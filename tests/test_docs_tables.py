"""The docs' generated tables (docs/tables.py) say what the platforms' descriptions say.

A platform's states, connection form, acknowledgement, page size or budget changed in code and not
in the docs fails here, with the command that rewrites the tables.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from airflow_ft_provider.platforms.registry import RECORDS

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("docs_tables", ROOT / "docs" / "tables.py")
assert _spec is not None and _spec.loader is not None
tables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tables)


def _blocks(page: str) -> list[str]:
    return [m["name"] for m in tables.BLOCK.finditer((tables.DOCS / page).read_text())]


def test_committed_tables_are_what_the_code_says():
    stale = tables.stale()
    assert not stale, f"generated tables differ from the platforms' descriptions in {stale}: run {tables.COMMAND}"


def test_every_platform_has_its_page_and_its_tables_there():
    for record in RECORDS.values():
        page = f"{tables.page(record).lstrip('/')}.md"
        assert (tables.DOCS / page).is_file(), f"{record.title} has no page docs/{page}"
        missing = {f"{kind}:{record.name}" for kind in tables.PLATFORM_TABLES} - set(_blocks(page))
        assert not missing, f"docs/{page} lacks the blocks {sorted(missing)}: add their markers, run {tables.COMMAND}"


def test_every_table_is_on_a_page_and_every_block_names_a_table():
    names = [name for page in tables.pages() for name in _blocks(page.relative_to(tables.DOCS).as_posix())]
    assert set(tables.TABLES) <= set(names), f"tables no page shows: {sorted(set(tables.TABLES) - set(names))}"
    for name in names:
        tables.render(name)  # KeyError for a block that names no table


def test_the_tables_show_every_native_state_of_every_platform():
    """Rendered from ``dialect.states``: each native state, its normalized state and whether it ended."""
    overview = tables.render("states")
    for record in RECORDS.values():
        assert record.title in overview
        rows = tables.render(f"states:{record.name}")
        for native, state in record.dialect.states.items():
            assert f"| `{native}` | {state.value} | {'yes' if state.is_terminal else 'no'} |" in rows
            assert f"`{native}`" in overview


def test_no_page_counts_the_platforms_in_words():
    words = ("five", "six", "seven", "eight")
    for page in tables.pages():
        text = page.read_text().lower()
        counted = [w for w in words if f"{w} platforms" in text]
        assert not counted, f"{page.name} counts the platforms ({counted}): list them with a generated block"
