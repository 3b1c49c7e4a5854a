"""Sphinx configuration: Markdown pages (MyST), the Furo theme.

The build fails when a page's generated tables (``tables.py``) or the API reference (``api.py``,
Markdown written from the docstrings, readable in the repository too) differ from the code.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import SphinxError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from airflow_ft_provider import __version__  # noqa: E402

sys.path.insert(0, str(ROOT / "docs"))
import api  # noqa: E402
import tables  # noqa: E402

# Reading the public classes imports Airflow, which logs its configuration's whereabouts at INFO.
for name in ("airflow.configuration", "airflow.settings"):
    logging.getLogger(name).setLevel(logging.WARNING)

project = "airflow-ft-provider"
author = "The airflow-ft-provider authors"
copyright = "the airflow-ft-provider authors"
release = version = __version__

extensions = ["myst_parser"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"airflow-ft-provider {release}"


def check_generated_tables(app: Sphinx) -> None:
    """Fail the build on a stale generated table: the pages on GitHub must say what the build says."""
    stale = tables.stale()
    if stale:
        raise SphinxError(f"generated tables differ in {', '.join(stale)}: run {tables.COMMAND}")
    if api.stale():
        raise SphinxError(f"api.md differs from the code's docstrings: run {api.COMMAND}")


def setup(app: Sphinx) -> None:
    app.connect("builder-inited", check_generated_tables)
