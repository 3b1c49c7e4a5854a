"""Server text is data: the one boundary every string a server sent passes on its way out.

A job name, a status message or an error body reaches exceptions, task logs, XCom and trigger
events. Before it does, :func:`clean` replaces every secret of the process's connections with
``***`` (a server that echoes the request's ``Authorization`` header must not put the key in a log),
escapes control characters (a newline, an ANSI escape or a forged ``Task exited with return code 0``
line stays visibly one line of data), and clips the length. The secrets come from
``version_compat.mask_secrets``, which every hook already calls for its connection's secrets and
every minted token: what Airflow's masker hides in logs is also kept out of the text we build.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

__all__ = ["MASK", "clean", "register_secrets"]

MASK = "***"
#: Shorter values are not scrubbed: they would mangle ordinary words (Airflow's masker does the same).
MIN_SECRET_LENGTH = 5
#: Tokens are minted for as long as a triggerer lives; the oldest (long expired) are forgotten.
MAX_SECRETS = 10_000

#: C0, DEL, C1, the Unicode line and paragraph separators, and the bidi overrides (text that reads
#: differently than it is): each is written as its escape, readable and on one line.
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_CONTROL = [
    *range(0x00, 0x20),
    0x7F,
    *range(0x80, 0xA0),
    0x2028,
    0x2029,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
]
_ESCAPES = {
    code: _NAMED.get(chr(code)) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}") for code in _CONTROL
}
_ANY_CONTROL = re.compile("[" + "".join(re.escape(chr(code)) for code in _CONTROL) + "]")

#: An escape the clipping cut in two (``\\x1`` of ``\\x1b``): dropped rather than left misleading.
_CUT_ESCAPE = re.compile(r"\\(?:x[0-9a-f]?|u[0-9a-f]{0,3})?\Z")

_lock = threading.Lock()
_secrets: dict[str, None] = {}  # insertion-ordered, for forgetting the oldest
_pattern: re.Pattern[str] | None = None


def register_secrets(secrets: Iterable[str]) -> None:
    """Remember values to scrub from server text (a PEM key too: as its escaped spelling)."""
    global _pattern
    with _lock:
        added = False
        for secret in secrets:
            if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
                continue
            spelling = escape(secret)  # text is escaped before it is scrubbed
            if spelling not in _secrets:
                _secrets[spelling] = None
                added = True
        if not added:
            return
        while len(_secrets) > MAX_SECRETS:
            del _secrets[next(iter(_secrets))]
        # Longest first: a secret that contains another is scrubbed whole.
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(map(re.escape, ordered)))


def escape(text: str) -> str:
    # The search first: most text has nothing to escape, and translate() is slow on every character.
    return text.translate(_ESCAPES) if _ANY_CONTROL.search(text) else text


def clean(text: object, limit: int | None = None) -> str:
    """``text`` as data: secrets scrubbed, control characters escaped, at most ``limit`` characters."""
    value = escape(text if isinstance(text, str) else str(text))
    pattern = _pattern
    if pattern is not None:
        value = pattern.sub(MASK, value)
    if limit is not None and len(value) > limit:
        value = _CUT_ESCAPE.sub("", value[: limit - 3]) + "..."
    return value
