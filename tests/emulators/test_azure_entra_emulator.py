"""The emulated Microsoft Entra ID beside Azure OpenAI: discovery, the token endpoint, IMDS, and
Azure OpenAI taking its tokens until they expire."""

from __future__ import annotations

import time

import httpx
import pytest

from airflow_ft_provider.testing import Fault, JobScript

PLATFORM = "azure_openai"
SCOPE = "https://cognitiveservices.azure.com/.default"
ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def token(emu, sp, **form: str) -> httpx.Response:
    data = {"grant_type": "client_credentials", "client_id": sp.client_id, "scope": SCOPE, **form}
    return httpx.post(f"{emu.url}/{sp.tenant_id}/oauth2/v2.0/token", data=data)


def read_job(emu, job_id: str, bearer: str) -> httpx.Response:
    url = f"{emu.base_url('azure_openai')}/openai/v1/fine_tuning/jobs/{job_id}"
    return httpx.get(url, headers={"Authorization": f"Bearer {bearer}"})


def test_a_token_works_until_it_expires(emu):
    emu.entra.token_lifetime_s = 1.0
    sp = emu.entra.service_principal()
    job_id = emu.seed(PLATFORM, script=JobScript(running_s=None))
    answer = token(emu, sp, client_secret=sp.client_secret or "")
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 1
    assert read_job(emu, job_id, body["access_token"]).status_code == 200
    time.sleep(1.1)
    expired = read_job(emu, job_id, body["access_token"])
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]
    assert emu.entra.issued == {"client_secret": 1}


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_secret": "x", "scope": "https://management.azure.com/.default"}, 400, "invalid_scope"),
        ({"client_secret": "x", "grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"client_secret": "x", "client_id": "someone-else"}, 400, "unauthorized_client"),
        ({"client_assertion": "a.b.c", "client_assertion_type": ASSERTION}, 401, "invalid_client"),
    ],
)  # fmt: skip
def test_refusals_are_entra_id_errors(emu, form, status, error):
    sp = emu.entra.service_principal()
    answer = token(emu, sp, **form)
    assert answer.status_code == status
    body = answer.json()
    assert body["error"] == error and body["error_description"].startswith("AADSTS")
    assert emu.entra.issued == {}


def test_discovery_documents_name_https_endpoints_of_the_tenant(emu):
    tenant = "contoso.onmicrosoft.com"
    config = httpx.get(f"{emu.url}/{tenant}/v2.0/.well-known/openid-configuration").json()
    host = emu.url.split("://", 1)[1]
    assert config["token_endpoint"] == f"https://{host}/{tenant}/oauth2/v2.0/token"
    assert config["issuer"] == f"https://{host}/{tenant}/v2.0"
    found = httpx.get(
        f"{emu.url}/common/discovery/instance",
        params={"api-version": "1.1", "authorization_endpoint": f"https://{host}/{tenant}/oauth2/v2.0/authorize"},
    ).json()
    assert found["tenant_discovery_endpoint"] == f"https://{host}/{tenant}/v2.0/.well-known/openid-configuration"


def test_imds_needs_its_header_and_a_known_identity(emu):
    url = f"{emu.url}/metadata/identity/oauth2/token"
    params = {"api-version": "2018-02-01", "resource": "https://cognitiveservices.azure.com"}
    assert httpx.get(url, params=params).status_code == 400
    assert httpx.get(url, params={**params, "client_id": "unknown"}, headers={"Metadata": "true"}).status_code == 400
    answer = httpx.get(url, params=params, headers={"Metadata": "true"})
    assert answer.status_code == 200 and answer.json()["token_type"] == "Bearer"
    assert int(answer.json()["expires_on"]) > time.time()
    assert emu.entra.issued == {"managed_identity": 1}


def test_the_token_endpoint_takes_faults_only_when_named_and_its_body_is_not_logged(emu):
    sp = emu.entra.service_principal()
    emu.inject(PLATFORM, Fault.status(503))  # every API request, not the auxiliary token endpoint
    assert token(emu, sp, client_secret=sp.client_secret or "").status_code == 200
    emu.clear_faults()
    emu.inject(PLATFORM, Fault.status(503, path="/oauth2/v2.0/token"))
    assert token(emu, sp, client_secret=sp.client_secret or "").status_code == 503
    logged = [r for r in emu.requests(PLATFORM) if r.path.endswith("/oauth2/v2.0/token")]
    assert [r.status for r in logged] == [200, 503] and all(r.body is None for r in logged)


def test_revoked_tokens_are_refused(emu):
    sp = emu.entra.service_principal()
    job_id = emu.seed(PLATFORM, script=JobScript(running_s=None))
    access = token(emu, sp, client_secret=sp.client_secret or "").json()["access_token"]
    assert read_job(emu, job_id, access).status_code == 200
    emu.revoke_tokens()
    assert read_job(emu, job_id, access).status_code == 401
