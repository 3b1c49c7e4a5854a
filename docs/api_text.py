"""Docstrings, types, defaults and signatures as Markdown, for the API reference (``api.py``).

The docstrings are written for Sphinx (reStructuredText roles, ````literals````, ``::`` blocks,
``:param x:`` fields, ``#:`` comments above fields); the page must read well without Sphinx.
"""

from __future__ import annotations

import enum
import inspect
import re
import typing
from typing import Any

_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj):`(~?)([^`<]+?)(?:\s*<([^>]+)>)?`")
_PARAM = re.compile(r"^:param (?:[\w\[\], |.]+ )?(\*{0,2}\w+):\s*(.*)$")
#: Other fields of a docstring (not its text): left out of the page.
_FIELD = re.compile(r"^:(?:returns?|raises?|rtype|type|yields?)\b")


def markdown(text: str) -> str:
    """reStructuredText as the docstrings write it, in Markdown: roles, literals, literal blocks."""
    text = _ROLE.sub(lambda m: f"`{(m[3] or m[2]).rpartition('.')[2] if m[1] else (m[3] or m[2])}`", text)
    text = re.sub(r"``(.+?)``", r"`\1`", text, flags=re.S)
    lines, out, block = text.splitlines(), [], False
    for line in lines:
        if block and line and not line.startswith("    "):
            out.append("```")
            block = False
        out.append(line[4:] if block else line)
        if not block and line.endswith("::"):
            out[-1] = line[:-1]
            out += ["", "```text"]
            block = True
    if block:
        out.append("```")
    return re.sub(r"```text\n\n", "```text\n", "\n".join(out)).strip()


def split_doc(obj: Any) -> tuple[str, dict[str, str]]:
    """The docstring's text and its ``:param name:`` descriptions (continuation lines joined)."""
    body: list[str] = []
    params: dict[str, str] = {}
    current = None
    for line in (inspect.getdoc(obj) or "").splitlines():
        found = _PARAM.match(line)
        if found:
            current = found[1].lstrip("*")
            params[current] = found[2]
        elif current and line.startswith(" "):
            params[current] += " " + line.strip()
        elif _FIELD.match(line):
            current = None
        else:
            current = None
            body.append(line)
    return markdown("\n".join(body)), {k: markdown(v) for k, v in params.items()}


def field_docs(cls: type) -> dict[str, str]:
    """The ``#:`` comments above a class's fields (and its bases'), as Sphinx reads them."""
    docs: dict[str, str] = {}
    for klass in reversed([c for c in cls.__mro__ if c.__module__.startswith("airflow_ft_provider")]):
        comment: list[str] = []
        try:
            source = inspect.getsource(klass)
        except OSError:  # made at run time (the API-key hooks): no fields of its own
            continue
        for line in source.splitlines():
            stripped = line.strip()
            if stripped.startswith("#:"):
                comment.append(stripped[2:].strip())
                continue
            name = re.match(r"(\w+)\s*[:=]", stripped)
            if comment and name and line.startswith("    ") and not line.startswith("     "):
                docs[name[1]] = markdown(" ".join(comment))
            comment = []
    return docs


def cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def code(text: str) -> str:
    return f"`{cell(text)}`" if text else ""


def annotation(value: Any) -> str:
    """A type as written: pydantic's resolved ``Annotated[...]`` shown as its type, no module paths."""
    if value is inspect.Parameter.empty:
        return ""
    if typing.get_origin(value) is typing.Annotated:
        value = typing.get_args(value)[0]
    text = value if isinstance(value, str) else inspect.formatannotation(value)
    return re.sub(r"\b(?:[a-z_]\w*\.)+(?=[A-Za-z_]\w*)", "", text)


def plain(value: Any) -> Any:
    """A default as a user writes it: enum members by value, sets sorted."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, frozenset | set):
        return sorted(plain(v) for v in value)
    return value


def default(value: Any) -> str:
    if value is inspect.Parameter.empty:
        return "required"
    if repr(value) == "<factory>":
        return "a new one"
    if callable(value) and hasattr(value, "__name__"):
        return code(value.__name__)
    return code(repr(plain(value)))


def signature(obj: Any) -> str:
    """``(a: int = 1) -> str``: annotations unquoted, ``self`` left out."""
    text = re.sub(r"(:|->) '([^']*)'", r"\1 \2", str(inspect.signature(obj)))
    text = re.sub(r"<class '(?:\w+\.)*(\w+)'>|<built-in function (\w+)>", lambda m: m[1] or m[2], text)
    return text.replace("(self, ", "(").replace("(self)", "()")
