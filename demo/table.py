"""The demo's summary table: columns as wide as their content, the last one wrapped.

Kept apart from ``run.py`` (which starts emulators and sets up Airflow when imported) so that a
test can render a table with the longest platform name and a long job id.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Collection, Sequence

#: The last column (free text) is never squeezed below this; the table is wider then.
MIN_LAST_WIDTH = 30
GAP = "  "
#: Where the last column goes on lines of its own, they start with this.
BELOW = "    "


def terminal_width() -> int:
    return shutil.get_terminal_size((120, 24)).columns


def render(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, right: Collection[int] = (), width: int | None = None
) -> list[str]:
    """The table's lines: every column but the last as wide as its widest cell (nothing is cut, a
    job id least of all); the last (free text) wrapped so that a line fits ``width`` (default: the
    terminal), or, where the other columns leave it too little room, on lines of its own below."""
    width = terminal_width() if width is None else width
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    indent = sum(widths[:-1]) + len(GAP) * (len(widths) - 1)
    inline = width - indent - len(GAP) >= MIN_LAST_WIDTH
    last = min(widths[-1], width - indent - len(GAP)) if inline else max(MIN_LAST_WIDTH, width - len(BELOW))

    def cells(row: Sequence[str]) -> list[str]:
        pairs = enumerate(zip(row[:-1], widths[:-1], strict=True))
        fixed = [str(cell).rjust(w) if i in right else str(cell).ljust(w) for i, (cell, w) in pairs]
        wrapped = textwrap.wrap(str(row[-1]), last)
        if not inline:
            return [GAP.join(fixed).rstrip(), *(BELOW + line for line in wrapped)]
        wrapped = wrapped or [""]
        return [GAP.join([*fixed, wrapped[0]]).rstrip(), *(" " * (indent + len(GAP)) + more for more in wrapped[1:])]

    rule = "-" * max(len(line) for row in [header, *rows] for line in cells(row))
    return [*cells(header), rule, *(line for row in rows for line in cells(row)), rule]


def paragraph(text: str, lines: Sequence[str]) -> str:
    """``text`` wrapped to the table's width."""
    return textwrap.fill(text, max(len(line) for line in lines))
