"""Every branch on the Airflow version, and every Airflow quirk worked around, in one place.

The convention of the apache/airflow providers' ``version_compat.py``: code elsewhere asks this
module ("mask this secret without blocking", "does the triggerer call on_kill?") instead of
testing versions itself, so supporting or dropping a release is one file's change. Supported:
Airflow 3.1 and later.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Any

from airflow_ft_provider import server_text

if TYPE_CHECKING:
    from airflow_ft_provider.connection_fields import ConnectionForm


def _version_tuple(version: str) -> tuple[int, int]:
    major, minor = (int("".join(c for c in part if c.isdigit()) or 0) for part in version.split(".")[:2])
    return major, minor


#: Read from the distribution's metadata, not ``airflow.__version__``: this module imports nothing of
#: Airflow at load time, because Airflow loads ``get_provider_info`` (which uses it) while it is
#: itself still being imported.
_airflow_version = metadata.version("apache-airflow-core")
AIRFLOW_V_3_2_PLUS = _version_tuple(_airflow_version) >= (3, 2)
AIRFLOW_V_3_3_PLUS = _version_tuple(_airflow_version) >= (3, 3)


@functools.cache
def trigger_on_kill_supported() -> bool:
    """Airflow 3.3+ calls ``BaseTrigger.on_kill`` when a user kills a deferred task (mark failed or
    success, clear). Detected by the method itself rather than the version number."""
    from airflow.triggers.base import BaseTrigger

    return "on_kill" in BaseTrigger.__dict__


# -- cryptography 51 on Airflow 3.1 ---------------------------------------------------------------
#: The first cryptography release whose ``MultiFernet`` (a Rust object since 51.0.0) takes no new
#: attributes. Airflow's ``get_fernet()`` sets ``is_encrypted`` on it in apache-airflow-core 3.1.0
#: to 3.1.8 (every 3.1 release); 3.2.0 wraps it in a class of its own and is not affected.
CRYPTOGRAPHY_WITHOUT_FERNET_ATTRIBUTES = 51


@functools.cache
def encryption_broken() -> str | None:
    """Why this Airflow cannot encrypt anything (trigger kwargs, connection passwords), or None.

    Airflow 3.1.x with cryptography >= 51 fails in ``airflow.models.crypto.get_fernet`` with
    ``AttributeError: ... MultiFernet object has no attribute 'is_encrypted'`` the first time it
    encrypts: every deferral (trigger kwargs are encrypted) and every save of a connection with a
    password. Airflow's own error points nowhere near the cause; this one names the fix. Only with a
    Fernet key set: without one (``[core] fernet_key`` empty, as in Airflow's docker-compose file)
    Airflow stores everything unencrypted and nothing fails.
    """
    found = _cryptography_version()
    if found is None or not _fernet_key_set():
        return None
    return encryption_broken_for(_airflow_version, found)


def encryption_broken_for(airflow_version: str, cryptography_version: str) -> str | None:
    """Why Airflow cannot encrypt with a Fernet key at these versions (apache-airflow-core's, cryptography's)."""
    if _version_tuple(airflow_version) >= (3, 2):
        return None
    if _version_tuple(cryptography_version)[0] < CRYPTOGRAPHY_WITHOUT_FERNET_ATTRIBUTES:
        return None
    return (
        f"Airflow {airflow_version} cannot encrypt with cryptography {cryptography_version}: Airflow 3.1.x sets "
        f"an attribute on cryptography's MultiFernet, which cryptography {CRYPTOGRAPHY_WITHOUT_FERNET_ATTRIBUTES} "
        "made read-only, so with a Fernet key set, deferring a task (its trigger's arguments are encrypted) and "
        "saving a connection with a password fail with AttributeError 'is_encrypted'. Fix: pip install "
        '"cryptography<51" on every Airflow component, or install Airflow with its constraints file for your '
        "release (https://airflow.apache.org/docs/apache-airflow/stable/installation/installing-from-pypi.html), "
        "or upgrade to Airflow 3.2 or later."
    )


@functools.cache
def warn_if_encryption_broken() -> None:
    """Log once per process (provider loading, a hook's Test) when these versions cannot encrypt.

    From the versions alone: Airflow loads the provider while it is still reading its configuration,
    so whether a Fernet key is set cannot be asked yet (the message says when it matters).
    """
    found = _cryptography_version()
    if found is not None and (reason := encryption_broken_for(_airflow_version, found)):
        logging.getLogger("airflow_ft_provider").warning("%s", reason)


def _cryptography_version() -> str | None:
    try:
        return metadata.version("cryptography")
    except metadata.PackageNotFoundError:
        return None


def _fernet_key_set() -> bool:
    from airflow.configuration import conf

    return bool(conf.get("core", "fernet_key", fallback="").strip())


# -- connection forms -----------------------------------------------------------------------------
def legacy_connection_form_methods(form: ConnectionForm) -> dict[str, Any]:
    """``get_connection_form_widgets`` / ``get_ui_field_behaviour`` for a hook class, on Airflow 3.1.

    Airflow 3.2+ reads the form declaratively from the provider info (``conn-fields``) and warns
    about these methods; 3.1 calls them, and only finds them in the hook class's own ``__dict__``,
    so each hook class gets its own pair (see :func:`airflow_ft_provider.hooks.base.declare_hook`).
    """
    if AIRFLOW_V_3_2_PLUS:
        return {}
    return {
        "get_connection_form_widgets": classmethod(lambda cls: _legacy_widgets(form)),
        "get_ui_field_behaviour": classmethod(lambda cls: _legacy_behaviour(form)),
    }


def _legacy_widgets(form: ConnectionForm) -> dict[str, Any]:
    """wtforms widgets for Airflow 3.1's form; wtforms is only imported when the UI asks."""
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, IntegerField, PasswordField, StringField

    widgets: dict[str, Any] = {}
    for f in form.fields:
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


def _legacy_behaviour(form: ConnectionForm) -> dict[str, Any]:
    declared = form.ui
    return {
        "hidden_fields": list(declared["hidden-fields"]),
        "relabeling": dict(declared["relabeling"]),
        "placeholders": dict(declared["placeholders"]),
    }


# -- secrets masker -------------------------------------------------------------------------------
def mask_secrets(secrets: Sequence[str]) -> None:
    """Register secrets with Airflow's masker (blocking: workers, callbacks) and with the server-text
    boundary, which scrubs them from exceptions, XCom and trigger events too."""
    from airflow.providers.common.compat.sdk import mask_secret

    server_text.register_secrets(secrets)
    for secret in secrets:
        mask_secret(secret)


async def amask_secrets(secrets: Sequence[str]) -> None:
    """Register secrets from an event loop (the triggerer's) without a blocking supervisor call.

    Airflow 3.3 has ``amask_secret``. Before it, the same is done here: mask in this process, then tell
    the supervisor over its channel's async call. Neither blocking way works in a triggerer: on the
    loop it deadlocks the channel (apache/airflow#65286); in a thread, ``send`` runs the request on an
    event loop of its own, and the supervisor's answer is read by the triggerer's next request, which
    kills the trigger runner ("Response read out of order", Airflow 3.1.8, on the first deferral).
    """
    from airflow.sdk import log as sdk_log

    server_text.register_secrets(secrets)
    send_mask = getattr(sdk_log, "amask_secret", None)
    for secret in secrets:
        if send_mask is not None:
            await send_mask(secret)
        elif has_async_supervisor():
            from airflow.sdk._shared.secrets_masker import _secrets_masker  # where 3.1's mask_secret finds it
            from airflow.sdk.execution_time.comms import MaskSecret

            _secrets_masker().add_mask(secret, None)
            await asend_to_supervisor(MaskSecret(value=secret, name=None))
        else:  # a worker's channel: its blocking send, off the loop
            await asyncio.to_thread(sdk_log.mask_secret, secret)


# -- task state, from the triggerer ----------------------------------------------------------------
async def atask_state(dag_id: str, task_id: str, run_id: str) -> str | None:
    """The task instance's state as Airflow's API reports it now; None: it has none (just cleared).

    Raises LookupError when Airflow reports no such task instance. In the triggerer the question goes
    over the supervisor channel's own async call (every 3.x triggerer has ``asend``): a blocking call
    from a thread there was seen to hang until ``on_kill_timeout`` while a trigger was being cancelled.
    """
    from airflow.sdk.execution_time.comms import GetTaskStates

    ask = GetTaskStates(dag_id=dag_id, task_ids=[task_id], run_ids=[run_id])
    states = (await asend_to_supervisor(ask)).task_states
    run = states.get(run_id, {})
    if task_id not in run:
        raise LookupError(f"no task instance {dag_id}.{task_id} in run {run_id}")
    state = run[task_id]
    return None if state is None else str(state).rsplit(".", 1)[-1].lower()


_BLOCKING_SENDS = threading.Lock()


async def asend_to_supervisor(message: Any) -> Any:
    """Ask Airflow through the supervisor channel without blocking the event loop.

    Every 3.x triggerer's channel has its own async call (``asend``): use it, since a blocking call from
    a thread there was seen to hang until ``on_kill_timeout`` while a trigger was being cancelled.
    Elsewhere (a worker's channel has no ``asend``) the blocking call runs in a thread, one at a time,
    and the channel is looked up there: ``dag.test()``'s in-process one unsets itself while it serves.
    """
    from airflow.sdk.execution_time import task_runner

    comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    if comms is not None and hasattr(comms, "asend"):
        return await comms.asend(message)

    def send() -> Any:
        with _BLOCKING_SENDS:
            blocking = getattr(task_runner, "SUPERVISOR_COMMS", None)
            if blocking is None:
                raise RuntimeError("this process has no channel to Airflow (run it in the triggerer or a task)")
            return blocking.send(message)

    return await asyncio.to_thread(send)


def has_async_supervisor() -> bool:
    """Whether this process's channel to Airflow has an async call (every 3.x triggerer's has)."""
    from airflow.sdk.execution_time import task_runner

    return hasattr(getattr(task_runner, "SUPERVISOR_COMMS", None), "asend")


def has_supervisor() -> bool:
    """Whether this process talks to Airflow through the task SDK's supervisor channel.

    Workers and the dag-processor do; ``dag.test()`` running a DAG callback in the test's own
    process does not (the SDK's XCom calls fail there). The same test Airflow makes to choose its
    secrets backends (``ensure_secrets_backend_loaded``).
    """
    from airflow.sdk.execution_time import task_runner

    return getattr(task_runner, "SUPERVISOR_COMMS", None) is not None


# -- connections in triggers ----------------------------------------------------------------------
async def aget_connection(hook: Any) -> Any:
    """``hook``'s connection, looked up the asynchronous way Airflow recommends in triggers.

    ``common.compat``'s ``get_async_connection`` picks the hook's ``aget_connection`` (Airflow 3.3.2+)
    or, where that would mask secrets with a blocking call, the blocking lookup in a thread. Under
    ``airflow dags test`` / ``dag.test()`` a trigger runs beside an in-process supervisor, whose
    asynchronous connection lookup does not reach the metadata database (3.3: "The conn_id ... isn't
    defined" for a connection stored there); its blocking lookup does, so it runs in a thread there.
    """
    from airflow.providers.common.compat.connection import get_async_connection

    if _in_process_supervisor():
        return await asyncio.to_thread(hook.get_connection, hook.conn_id)
    return await get_async_connection(hook.conn_id, hook=hook)


def _in_process_supervisor() -> bool:
    """Whether this process is ``dag.test()``'s own supervisor (no triggerer, no worker)."""
    from airflow.sdk.execution_time import task_runner

    comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    return type(comms).__name__ == "InProcessSupervisorComms"


# -- templates -------------------------------------------------------------------------------------
def dag_can_template(dag: object) -> bool:
    """Whether a context's ``dag`` can render templates.

    In ``dag.test()``, a DAG callback's context holds the scheduler's ``SerializedDAG``, which has
    neither a template environment nor ``render_template_as_native_obj`` (apache/airflow#64649,
    open in 3.1 and 3.3); rendering must then leave it out of the context.
    """
    return dag is None or hasattr(dag, "get_template_env")


def reuse_in_process_execution_api() -> None:
    """Make ``dag.test()`` build its in-process Execution API once per process, as 3.3 does.

    Airflow 3.1's ``in_process_api_server()`` builds a new API app for every task ``dag.test()``
    runs, and the app's first request generates all its versioned routes (cadwyn): 4-6 s a task on
    a 2-core machine, against 0.25 s on 3.3, which caches it (``functools.lru_cache``). Used by
    :mod:`airflow_ft_provider.testing.dags` only; the provider itself never runs ``dag.test()``.
    """
    from airflow.sdk.execution_time import supervisor

    if not hasattr(supervisor.in_process_api_server, "cache_info"):
        supervisor.in_process_api_server = functools.lru_cache(maxsize=1)(supervisor.in_process_api_server)
