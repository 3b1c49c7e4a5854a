"""A connection's extras, read by name and checked, without Airflow.

Dialects build themselves from these (``Dialect.from_extras``) and the transport settings are
read through them too, so every extra is refused the same way: an :class:`ExtraError` that names
the extra, what it holds and what it may hold. The hook adds the connection's id.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

N = TypeVar("N", int, float)

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class ExtraError(ValueError):
    """A connection extra holds a value that cannot work; the message names the extra and the fix."""


def _shown(value: object) -> str:
    return repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."


class Extras:
    """Extras by name, plain or with the legacy ``extra__<conn_type>__`` prefix; blanks are unset."""

    def __init__(self, values: Mapping[str, Any], conn_type: str = "") -> None:
        self._values = values
        self._conn_type = conn_type

    def get(self, name: str, default: Any = None) -> Any:
        for key in (name, f"extra__{self._conn_type}__{name}"):
            value = self._values.get(key)
            if value not in (None, ""):
                return value
        return default

    def text(self, name: str, default: str | None = None) -> str | None:
        """A printable string (stripped); numbers are taken as their text."""
        value = self.get(name)
        if value is None:
            return default
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ExtraError(f"the extra {name} must be text, not a JSON {type(value).__name__}.")
        stripped = str(value).strip()
        if not stripped.isprintable():
            raise ExtraError(f"the extra {name} contains line breaks or other unprintable characters.")
        return stripped or default

    def choice(self, name: str, choices: Iterable[str], default: str) -> str:
        allowed = tuple(choices)
        value = (self.text(name) or default).lower()
        if value not in allowed:
            raise ExtraError(f"the extra {name}={_shown(value)} is not one of {', '.join(allowed)}.")
        return value

    def flag(self, name: str, default: bool) -> bool:
        """A yes/no extra. Anything but a clear yes or no is refused rather than guessed: a typo in
        ``verify_tls`` must not turn certificate checks off, nor one in ``allow_insecure_http`` on."""
        value = self.get(name, default)
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise ExtraError(
            f"the extra {name}={_shown(value)} is neither true nor false. Set {name} to true or false "
            f"(or remove it for the default, {str(default).lower()})."
        )

    def number(self, name: str, default: N, low: N, high: N, *, low_open: bool = False) -> N:
        """A finite number within [low, high] (``low_open``: above ``low``), of ``default``'s type."""
        value = self.get(name, default)
        kind = type(default)
        above = f"above {low}" if low_open else f"from {low}"
        wanted = f"{'a whole number' if kind is int else 'a number'} {above} to {high}"
        try:
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise ValueError
            number = float(value)
            if kind is int and not number.is_integer():
                raise ValueError
        except (TypeError, ValueError):
            raise ExtraError(f"the extra {name}={_shown(value)} is not {wanted}.") from None
        if not math.isfinite(number) or number < low or number > high or (low_open and number == low):
            raise ExtraError(f"the extra {name}={_shown(value)} is out of range: use {wanted}.")
        return kind(number)
