"""What the rest of the provider needs to know about a platform, declared once in its module.

Each ``platforms/<name>.py`` ends with ``RECORD = PlatformRecord(...)``: its connection type and
form, its hook, its dialect, its listing and quota facts; another package's platform declares one
the same way and registers it with an entry point (:mod:`~airflow_ft_provider.platforms.registry`).
Every table that lists platforms (the connection types in the provider info, the hooks by
connection type, the platforms a job record may name) is read from the records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_ft_provider.connection_fields import ConnectionForm

if TYPE_CHECKING:
    from airflow_ft_provider.platforms.base import Dialect
    from airflow_ft_provider.platforms.labels import LabelRules

#: Where the generic API-key hooks are built (see :mod:`airflow_ft_provider.hooks.api_key`).
API_KEY_HOOKS = "airflow_ft_provider.hooks.api_key"
#: Request budget of a connection whose platform publishes no quota for these calls: ten requests
#: a second on average (the size of Vertex AI's published quota), adapted down on 429s.
DEFAULT_REQUESTS_PER_MINUTE = 600


@dataclass(frozen=True)
class ApiKeyAuth:
    """How a platform takes an API key from the connection's Password field."""

    #: What to call the key in messages ("OpenAI API key").
    label: str
    header: str = "Authorization"
    #: Put before the key in the header; None: the key alone.
    scheme: str | None = "Bearer"


@dataclass(frozen=True)
class PlatformRecord:
    """One platform, as the provider's tables need it."""

    #: The platform's name (a ``Platform`` value, or the entry point's name of another package's
    #: platform): in XCom, logs, trigger kwargs (never change it once released).
    name: str
    #: Human name, for messages ("Vertex AI").
    title: str
    #: The provider's own connection type.
    conn_type: str
    dialect: type[Dialect]
    form: ConnectionForm
    #: The hook's class name; it lives in ``hook_module``. API-key platforms need no hook module
    #: of their own: :mod:`~airflow_ft_provider.hooks.api_key` builds their hook from ``api_key``.
    hook_class_name: str
    hook_module: str = API_KEY_HOOKS
    #: How the generic hook authenticates; None for platforms with their own hook.
    api_key: ApiKeyAuth | None = None
    #: Other connection types this platform's hook serves (an existing ``google_cloud_platform``).
    also_conn_types: tuple[str, ...] = ()
    #: Connection types another platform serves (its ``also_conn_types``) that serve this one when
    #: the connection's ``platform`` extra names it: an ``aws`` connection is Bedrock's unless it
    #: says ``{"platform": "sagemaker"}`` (see :func:`~airflow_ft_provider.hooks.registry.get_hook`).
    shared_conn_types: tuple[str, ...] = ()
    #: Shown in parentheses after the connection type's name (:attr:`hook_name`): what the
    #: platform calls its jobs ("training jobs") or its other name ("Model Studio").
    hook_name_note: str = ""
    #: Whether jobs carry labels a bulk filter can match (Vertex AI labels, OpenAI metadata).
    has_labels: bool = False
    #: The labels (metadata, tags) a job takes at creation, for ``run_labels``; None: it takes none.
    labels: LabelRules | None = None
    #: Whether the platform can cancel a job at all (the Gemini API cannot).
    can_cancel: bool = True
    #: Default request budget per connection and process, and where it comes from.
    requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE
    quota_source: str = "no published quota for these calls; a conservative default"

    @property
    def largest_page(self) -> int | None:
        """The largest page the listing takes (its dialect's paging); None: every job in one answer."""
        return self.dialect.paging.largest

    @property
    def hook_name(self) -> str:
        """The connection type's name in Airflow's Connections UI: "<title> Fine-Tuning", so that
        searching the type picker for "fine" finds every platform of this provider."""
        return f"{self.title} Fine-Tuning" + (f" ({self.hook_name_note})" if self.hook_name_note else "")

    @property
    def hook_class_path(self) -> str:
        return f"{self.hook_module}.{self.hook_class_name}"

    @property
    def default_conn_name(self) -> str:
        return f"{self.conn_type}_default"

    @property
    def conn_types(self) -> tuple[str, ...]:
        return (self.conn_type, *self.also_conn_types)
