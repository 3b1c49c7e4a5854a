"""Helpers shared by the security tests."""

from __future__ import annotations

import uuid

from airflow_ft_provider.errors import InvalidJobIdError
from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.platforms.registry import RECORDS
from tests.platforms.emulated import dialect_for, new_core


def _short_form(platform: Platform) -> str:
    """The shortest tail of the dialect's example id that a connection to the emulator accepts: the
    short form its own scope completes (a Vertex AI example's project is not the connection's, and a
    job there is refused as forbidden, not missing; a Fireworks id keeps its collection)."""
    dialect = dialect_for(new_core(), platform)
    segments = dialect.id_example.split("/")
    for n in range(1, len(segments)):
        tail = "/".join(segments[-n:])
        try:
            dialect.canonical_id(tail)
        except InvalidJobIdError:
            continue
        return tail
    return dialect.id_example


#: Ids in each platform's own format that name no job (a 404 from the emulator).
MISSING_IDS: dict[Platform, str] = {Platform(name): _short_form(Platform(name)) for name in RECORDS}


def dag_header(dag_id: str) -> list[str]:
    """The first lines of a generated DAG file: imports and a DAG without retries."""
    return [
        "from airflow.sdk import DAG",
        "from airflow_ft_provider.operators.cancel import CancelTuningJobOperator",
        "from airflow_ft_provider.sensors.job_state import TuningJobStateSensor",
        "",
        f"with DAG({dag_id!r}, schedule=None, default_args={{'retries': 0}}) as dag:",
    ]


def foreign_service_account(project: str, token_uri: str) -> dict[str, str]:
    """A well-formed service-account key the emulator never issued (its token endpoint refuses it)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": project,
        "private_key_id": uuid.uuid4().hex,
        "private_key": pem,
        "client_email": f"intruder@{project}.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }
