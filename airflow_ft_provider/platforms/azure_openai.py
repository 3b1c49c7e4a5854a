"""Azure OpenAI fine-tuning jobs: OpenAI's wire format under a resource's own endpoint.

Two path styles reach the same jobs. The v1 API (the default) is ``{endpoint}/openai/v1/
fine_tuning/jobs...`` with no version; the legacy data plane, chosen by the ``api_version``
extra, is ``{endpoint}/openai/fine_tuning/jobs...?api-version=<date>``. Bodies, paging and
errors are OpenAI's, so parsing is the OpenAI dialect's; only addressing and a few states differ.
There is no default endpoint (each resource has its own), so a connection without a host is
refused by name.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Self

from airflow_ft_provider.connection_fields import COMMON_FIELDS, ConnectionForm, ConnField
from airflow_ft_provider.errors import TuningJobError
from airflow_ft_provider.jobs import TuningJobState
from airflow_ft_provider.platforms.base import ApiRequest, ApiResponse
from airflow_ft_provider.platforms.extras import ExtraError, Extras
from airflow_ft_provider.platforms.http_errors import openai_style_error
from airflow_ft_provider.platforms.labels import LabelRules
from airflow_ft_provider.platforms.openai import STATES as OPENAI_STATES
from airflow_ft_provider.platforms.openai import OpenAIDialect
from airflow_ft_provider.platforms.record import ApiKeyAuth, PlatformRecord
from airflow_ft_provider.platforms.states import Phase, StateTable

ENDPOINT_EXAMPLE = "https://<resource>.openai.azure.com"
#: A dated data-plane version: ``2024-10-21``, ``2025-04-01-preview``.
API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?")
#: What Password holds, by the ``auth_type`` extra: the resource's key (sent as ``api-key``) or a
#: Microsoft Entra ID token for ``https://cognitiveservices.azure.com/.default`` (sent as Bearer).
AUTH_TYPES: dict[str, ApiKeyAuth] = {
    "api_key": ApiKeyAuth("Azure OpenAI API key", header="api-key", scheme=None),
    "entra_token": ApiKeyAuth("Microsoft Entra ID token"),
}
#: auth_type values whose Entra ID token azure-identity mints and refreshes (the ``[azure]`` extra):
#: a service principal (client secret in Password, or a certificate), a managed identity, a
#: workload identity (federated token file).
MINTED_AUTH_TYPES = ("service_principal", "managed_identity", "workload_identity")

#: OpenAI's statuses (the v1 API speaks OpenAI's wire format) plus Azure's own: ``FineTuningState``
#: of the data-plane spec (Azure/azure-rest-api-specs, ``authoring/stable/2024-10-21/azureopenai.json``)
#: is ``created, pending, running, succeeded, cancelled, failed``; newer previews add ``paused`` and
#: the service reports ``pausing`` and ``resuming``. A job just submitted lists as ``pending`` (real
#: listings show it), so that is what the emulator shows before ``running``.
STATES = StateTable(
    {
        **OPENAI_STATES,
        # Created, not yet processed; then waiting for capacity: both still to run, so QUEUED.
        "created": TuningJobState.QUEUED,
        "pending": TuningJobState.QUEUED,
        # Resuming: training again, as far as cancelling or waiting is concerned.
        "resuming": TuningJobState.RUNNING,
    },
    timeline={
        **OPENAI_STATES.timeline,
        Phase.QUEUED: "pending",
        Phase.PENDING: "pending",
    },
)


class AzureOpenAIDialect(OpenAIDialect):
    platform = "azure_openai"
    states = STATES

    def __init__(self, endpoint: str, api_version: str | None = None) -> None:
        super().__init__(_without_api_root(endpoint))
        self.api_version = api_version
        if api_version:
            self.jobs_path = ("openai", "fine_tuning", "jobs")
            self.query = {"api-version": api_version}
        else:
            self.jobs_path = ("openai", "v1", "fine_tuning", "jobs")
            self.query = {}

    @classmethod
    def from_extras(cls, base_url: str | None, extras: Extras) -> Self:
        if not base_url:
            raise ExtraError(
                "it has no endpoint, and Azure OpenAI has none by default (each resource has its own). "
                f"Set the connection's Host to the resource's endpoint, e.g. {ENDPOINT_EXAMPLE}."
            )
        version = extras.text("api_version")
        if version is not None and not API_VERSION.fullmatch(version):
            raise ExtraError(
                f"the extra api_version={version[:40]!r} is not a dated API version. Use one like "
                "'2024-10-21' (or '2025-04-01-preview') for the legacy data plane, or remove it for the v1 API."
            )
        return cls(base_url, version)

    def get_request(self, job_id: str) -> ApiRequest:
        return self._versioned(super().get_request(job_id))

    def cancel_request(self, job_id: str) -> ApiRequest:
        return self._versioned(super().cancel_request(job_id))

    def list_params(self) -> dict[str, str]:
        return self.query

    def _versioned(self, request: ApiRequest) -> ApiRequest:
        return replace(request, params={**request.params, **self.query}) if self.query else request

    def console_url(self, job_id: str) -> str | None:
        """None: an Azure AI Foundry link needs the resource's subscription, resource group and
        tenant, which neither the endpoint nor the job record carries."""
        return None

    def parse_error(self, response: ApiResponse, request: ApiRequest) -> TuningJobError:
        return openai_style_error(response, request, self.platform, "Azure OpenAI")


def _without_api_root(endpoint: str) -> str:
    """The resource endpoint, also when the host was given as the SDK's base URL (``.../openai/v1``)."""
    return re.sub(r"/openai(/v1)?/*$", "", endpoint.rstrip("/"))


RECORD = PlatformRecord(
    name="azure_openai",
    title="Azure OpenAI",
    conn_type="ft_azure_openai",
    dialect=AzureOpenAIDialect,
    form=ConnectionForm(
        fields=(
            ConnField(
                "auth_type",
                "Credential",
                "api_key: the resource's key in Password (sent as the api-key header). entra_token: a "
                "Microsoft Entra ID access token in Password, used as given (it expires within 60-90 min). "
                "service_principal: tenant_id and client_id below, the client secret in Password or a "
                "certificate below. managed_identity: the machine's identity (client_id for a user-assigned "
                "one). workload_identity: a federated token file (AKS). The last three refresh the token "
                "themselves and need the [azure] extra.",
                default="api_key",
                choices=(*AUTH_TYPES, *MINTED_AUTH_TYPES),
            ),
            ConnField("tenant_id", "Tenant ID", "Directory (tenant) id: service_principal, workload_identity."),
            ConnField(
                "client_id",
                "Client ID",
                "Application (client) id: service_principal, workload_identity; a user-assigned managed "
                "identity's client id (empty: the system-assigned identity).",
            ),
            ConnField(
                "client_certificate",
                "Client certificate (PEM)",
                "service_principal without a secret: the certificate and its private key, PEM.",
                secret=True,
            ),
            ConnField(
                "client_certificate_path",
                "Client certificate file",
                "Or the path of that PEM file on every worker and triggerer.",
            ),
            ConnField(
                "client_certificate_password",
                "Certificate password",
                "If the certificate's private key is encrypted.",
                secret=True,
            ),
            ConnField(
                "token_file_path",
                "Federated token file",
                "workload_identity: the token file (default: $AZURE_FEDERATED_TOKEN_FILE; tenant_id and "
                "client_id default to $AZURE_TENANT_ID and $AZURE_CLIENT_ID).",
            ),
            ConnField(
                "authority_host",
                "Entra ID authority",
                "Default https://login.microsoftonline.com; e.g. https://login.microsoftonline.us for Azure "
                "Government.",
            ),
            ConnField(
                "api_version",
                "API version (legacy data plane)",
                "Empty: the v1 API (/openai/v1/...). A dated version such as 2024-10-21 switches to "
                "/openai/fine_tuning/...?api-version=<it>.",
            ),
            *COMMON_FIELDS,
        ),
        key_field_label="API key, Entra ID token or client secret",
        host_placeholder=ENDPOINT_EXAMPLE,
        relabeling={"host": "Endpoint (required)"},
    ),
    hook_class_name="AzureOpenAITuningHook",
    hook_module="airflow_ft_provider.hooks.azure_openai",
    api_key=AUTH_TYPES["api_key"],
    has_labels=True,
    # OpenAI's metadata, on the v1 API (older dated api-versions may not take it).
    labels=LabelRules("metadata", max_key_length=64, max_value_length=512),
)
