"""The Connections UI form of every connection type, declared once as data.

Airflow 3.2+ reads ``conn-fields`` / ``ui-field-behaviour`` from the provider info
(without importing hooks); Airflow 3.1 calls the hooks' ``get_connection_form_widgets`` /
``get_ui_field_behaviour``. Both are generated from the tables here, so the form cannot
drift between versions. This module imports nothing heavy: provider discovery loads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": [self.kind, "null"]}
        if self.secret:
            schema["format"] = "password"
        if self.default is not None:
            schema["default"] = self.default
        if self.choices:
            schema["enum"] = [*self.choices, None]
        return schema


#: Extras every connection type accepts (transport tuning); shown on every form.
COMMON_FIELDS: tuple[ConnField, ...] = (
    ConnField("timeout", "Request timeout (s)", "Seconds for one HTTP request.", kind="number", default=30),
    ConnField(
        "max_retries",
        "Max retries",
        "Retries of a request after 429, 5xx or network errors (backoff honours the platform's hint).",
        kind="integer",
        default=5,
    ),
    ConnField(
        "allow_insecure_http",
        "Allow plain http://",
        "Only for non-loopback hosts that really have no TLS; keys then cross the network in clear.",
        kind="boolean",
        default=False,
    ),
)

VERTEX_AI_FIELDS: tuple[ConnField, ...] = (
    ConnField("project", "Project ID", "Google Cloud project that owns the tuning jobs."),
    ConnField("location", "Location", "Region of the jobs, e.g. us-central1 or global.", default="us-central1"),
    ConnField(
        "keyfile_dict",
        "Service account key (JSON)",
        "Contents of a service-account JSON key. Alternatively paste it into Password.",
        secret=True,
    ),
    ConnField("key_path", "Key file path", "Path to a service-account JSON key on the workers."),
    ConnField(
        "access_token",
        "Access token",
        "An OAuth2 access token to use as is (short-lived; for tests and special setups).",
        secret=True,
    ),
    ConnField("quota_project", "Quota project", "Sent as x-goog-user-project for billing and quota."),
    *COMMON_FIELDS,
)

DASHSCOPE_FIELDS: tuple[ConnField, ...] = (
    ConnField(
        "region",
        "Region",
        "cn = Beijing (dashscope.aliyuncs.com), intl = Singapore (dashscope-intl.aliyuncs.com).",
        default="intl",
        choices=("cn", "intl"),
    ),
    ConnField("workspace", "Workspace ID", "Sent as X-DashScope-WorkSpace when set."),
    *COMMON_FIELDS,
)

OPENAI_FIELDS: tuple[ConnField, ...] = (
    ConnField("organization", "Organization ID", "Sent as OpenAI-Organization when set."),
    ConnField("project", "Project ID", "Sent as OpenAI-Project when set."),
    *COMMON_FIELDS,
)

_KEY_ONLY_HIDDEN = ["schema", "port", "login"]


def behaviour(host_placeholder: str, password_label: str = "API key", hide_password: bool = False) -> dict[str, Any]:  # noqa: S107
    hidden = [*_KEY_ONLY_HIDDEN, *(["password"] if hide_password else [])]
    return {
        "hidden-fields": hidden,
        "relabeling": {"host": "Base URL (optional)", "password": password_label},
        "placeholders": {"host": host_placeholder, "password": "" if hide_password else "paste the key"},
    }


@dataclass(frozen=True)
class ConnectionForm:
    """A connection type as the Connections UI shows it."""

    hook_class: str
    hook_name: str
    fields: tuple[ConnField, ...]
    ui: dict[str, Any]


_HOOKS = "airflow_ft_provider.hooks"

#: Every connection type of the provider, by ``conn_type``; hooks take their name from here.
CONNECTION_FORMS: dict[str, ConnectionForm] = {
    "ft_vertex_ai": ConnectionForm(
        f"{_HOOKS}.vertex_ai.VertexAITuningHook",
        "Vertex AI Tuning",
        VERTEX_AI_FIELDS,
        behaviour("https://us-central1-aiplatform.googleapis.com", "Service account key (JSON)"),
    ),
    "ft_gemini": ConnectionForm(
        f"{_HOOKS}.gemini.GeminiTuningHook",
        "Gemini API Tuning",
        COMMON_FIELDS,
        behaviour("https://generativelanguage.googleapis.com"),
    ),
    "ft_dashscope": ConnectionForm(
        f"{_HOOKS}.dashscope.DashScopeFineTuningHook",
        "DashScope (Model Studio) Fine-tuning",
        DASHSCOPE_FIELDS,
        behaviour("https://dashscope-intl.aliyuncs.com/api/v1"),
    ),
    "ft_together": ConnectionForm(
        f"{_HOOKS}.together.TogetherFineTuningHook",
        "Together AI Fine-tuning",
        COMMON_FIELDS,
        behaviour("https://api.together.xyz/v1"),
    ),
    "ft_openai": ConnectionForm(
        f"{_HOOKS}.openai.OpenAIFineTuningHook",
        "OpenAI Fine-tuning",
        OPENAI_FIELDS,
        behaviour("https://api.openai.com/v1"),
    ),
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


def legacy_form_widgets(fields: Sequence[ConnField]) -> dict[str, Any]:
    """wtforms widgets for Airflow 3.1's form; wtforms is only imported when the UI asks."""
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, IntegerField, PasswordField, StringField

    widgets: dict[str, Any] = {}
    for f in fields:
        label = lazy_gettext(f.label)
        if f.secret:
            widgets[f.name] = PasswordField(label, widget=BS3PasswordFieldWidget(), description=f.description)
        elif f.kind == "boolean":
            widgets[f.name] = BooleanField(label, default=bool(f.default), description=f.description)
        elif f.kind == "integer":
            widgets[f.name] = IntegerField(label, default=f.default, description=f.description)
        else:
            widgets[f.name] = StringField(
                label, widget=BS3TextFieldWidget(), default=f.default, description=f.description
            )
    return widgets


def legacy_ui_behaviour(declared: dict[str, Any]) -> dict[str, Any]:
    """``get_ui_field_behaviour`` form of a declared ``ui-field-behaviour``."""
    return {
        "hidden_fields": list(declared.get("hidden-fields", [])),
        "relabeling": dict(declared.get("relabeling", {})),
        "placeholders": dict(declared.get("placeholders", {})),
    }
