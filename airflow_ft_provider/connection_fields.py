"""The Connections UI form of a connection type, as data.

Each platform record declares its form (:class:`ConnectionForm`) from these pieces. Airflow 3.2+
reads it from the provider info (``conn-fields`` / ``ui-field-behaviour``, built here); Airflow
3.1 asks the hooks, which get it through :mod:`airflow_ft_provider.version_compat`. One table,
so the form cannot drift between versions. This module imports nothing heavy: provider
discovery loads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ConnField:
    """One extra field of a connection form."""

    name: str
    label: str
    description: str = ""
    secret: bool = False
    kind: str = "string"  # "string" | "integer" | "number" | "boolean"
    default: Any = None
    choices: tuple[str, ...] = ()
    #: The connection cannot work without it (Fireworks' account); ``example`` is a value of its form.
    required: bool = False
    example: str = ""

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": [self.kind, "null"]}
        if self.secret:
            schema["format"] = "password"
        if self.default is not None:
            schema["default"] = self.default
        if self.choices:
            schema["enum"] = [*self.choices, None]
        return schema


#: Extras every connection type accepts (transport tuning); shown on every form. The rest of the
#: transport's extras (see the README's "Limits and bounds") are accepted without a form field.
COMMON_FIELDS: tuple[ConnField, ...] = (
    ConnField(
        "timeout",
        "Request timeout (s)",
        "Seconds for one whole HTTP attempt: connecting, sending and reading the entire answer.",
        kind="number",
        default=30,
    ),
    ConnField(
        "max_retries",
        "Max retries",
        "Retries of a request after 429, 5xx, network errors or unreadable answers (backoff honours "
        "the platform's hint, capped).",
        kind="integer",
        default=5,
    ),
    ConnField(
        "max_requests_per_minute",
        "Request budget (per minute)",
        "Requests per minute this process sends on this connection, shared by all its tasks and "
        "triggers. Split a platform's quota across your workers and triggerers.",
        kind="integer",
    ),
    ConnField(
        "allow_insecure_http",
        "Allow plain http://",
        "Only for non-loopback hosts that really have no TLS; keys then cross the network in clear.",
        kind="boolean",
        default=False,
    ),
)


#: The connection's own fields, which every form has unless it hides them.
STANDARD_FIELDS = ("host", "schema", "login", "password", "port")


@dataclass(frozen=True)
class ConnectionForm:
    """A connection type's form: its extra fields and how the standard fields are shown."""

    fields: tuple[ConnField, ...] = COMMON_FIELDS
    #: Shown above the Password field.
    key_field_label: str = "API key"
    host_placeholder: str = ""
    hide_password: bool = False
    #: Standard fields the form hides.
    hidden: tuple[str, ...] = ("schema", "port", "login")
    relabeling: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for name, label in self.labels().items():
            other = seen.setdefault(label.casefold(), name)
            if other != name:
                raise ValueError(
                    f"Connection form: {other!r} and {name!r} are both labelled {label!r}; a user cannot tell "
                    "them apart. Give each field a label that says what it holds."
                )

    def labels(self) -> dict[str, str]:
        """Every field the form shows (standard ones first) with its label, as a user reads them."""
        relabeling = self.ui["relabeling"]
        standard = {
            name: relabeling.get(name, name.capitalize())
            for name in STANDARD_FIELDS
            if name not in self.ui["hidden-fields"]
        }
        return {**standard, **{f.name: f.label for f in self.fields}}

    @property
    def required_examples(self) -> dict[str, str]:
        """Each required extra with its example value: what a sample connection (a test's, the
        docs') fills in."""
        return {f.name: f.example for f in self.fields if f.required}

    @property
    def ui(self) -> dict[str, Any]:
        """``ui-field-behaviour`` as the provider info declares it."""
        hidden = [*self.hidden, *(["password"] if self.hide_password else [])]
        return {
            "hidden-fields": hidden,
            "relabeling": {"host": "Base URL (optional)", "password": self.key_field_label, **self.relabeling},
            "placeholders": {
                "host": self.host_placeholder,
                "password": "" if self.hide_password else "paste the key",
            },
        }


def provider_conn_fields(fields: Sequence[ConnField]) -> dict[str, Any]:
    """``conn-fields`` for the provider info (Airflow 3.2+)."""
    result: dict[str, Any] = {}
    for f in fields:
        item: dict[str, Any] = {"label": f.label, "schema": f.schema()}
        if f.description:
            item["description"] = f.description
        result[f.name] = item
    return result
