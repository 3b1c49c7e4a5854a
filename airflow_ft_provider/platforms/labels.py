"""How a platform's jobs take labels at creation: their form and limits, declared in its record.

A platform's record names its :class:`LabelRules` (``PlatformRecord.labels``); None means its jobs
take no labels. :func:`~airflow_ft_provider.run_labels.run_labels` reads them to label a job with
the Airflow task that created it, and the reaper (:mod:`~airflow_ft_provider.operators.reaper`)
recognises those labels in listings. A value the platform would refuse (too long, a character
outside its set, upper case where only lower case is allowed) is written in a deterministic
encoded form, so the reaper can compare an Airflow id against a label without decoding it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

#: Length of the hexadecimal digest that ends an encoded value (32 bits: a collision between two
#: runs of one DAG whose ids were both clipped is about one in four billion).
DIGEST_CHARS = 8


@dataclass(frozen=True)
class LabelRules:
    """One platform's labels (or metadata, or tags) on a job, as its create call takes them."""

    #: The create call's field that takes them, for messages and docs ("labels", "jobTags").
    field: str
    #: Longest key and value the platform accepts.
    max_key_length: int
    max_value_length: int
    #: The characters a key or value may hold, as the inside of a regex character class
    #: (``a-z0-9_-``); None: any character.
    charset: str | None = None
    #: Whether ``charset`` is lower case only (Vertex AI): an encoded value folds case first, so it
    #: stays readable.
    lowercase: bool = False
    #: Tags given as a list of ``{key_name: k, value_name: v}`` objects; None: a plain mapping.
    key_name: str | None = None
    value_name: str | None = None

    def _outside(self) -> re.Pattern[str] | None:
        """What the platform refuses; the re module caches the compiled pattern."""
        return None if self.charset is None else re.compile(f"[^{self.charset}]")

    def fits(self, value: str, limit: int) -> bool:
        """Whether the platform takes ``value`` exactly as it is."""
        outside = self._outside()
        return len(value) <= limit and (outside is None or not outside.search(value))

    def encode(self, value: str) -> str:
        """``value`` itself when it fits, else a readable clipped form ending in ``-<digest>`` of the
        whole value: deterministic, so an id can be matched by encoding it the same way."""
        if self.fits(value, self.max_value_length):
            return value
        outside = self._outside()
        readable = value.lower() if self.lowercase else value
        readable = readable if outside is None else outside.sub("-", readable)
        digest = hashlib.sha256(value.encode()).hexdigest()[:DIGEST_CHARS]
        return f"{readable[: self.max_value_length - DIGEST_CHARS - 1]}-{digest}"

    def shaped(self, labels: dict[str, str]) -> dict[str, str] | list[dict[str, str]]:
        """``labels`` in the form the create call takes: a mapping, or a list of tag objects."""
        if self.key_name is None or self.value_name is None:
            return dict(labels)
        return [{self.key_name: key, self.value_name: value} for key, value in labels.items()]

    def check_key(self, key: str, title: str) -> None:
        """Refuse a key the platform would refuse, naming the rule."""
        if not key or not self.fits(key, self.max_key_length):
            chars = "" if self.charset is None else f" of [{self.charset}]"
            raise ValueError(
                f"{key!r} cannot be a key of {title}'s {self.field}: at most {self.max_key_length} characters"
                f"{chars}. Choose another prefix."
            )
