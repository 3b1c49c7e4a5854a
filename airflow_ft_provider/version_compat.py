"""Every branch on the Airflow version, and every Airflow quirk worked around, in one place.

The convention of the apache/airflow providers' ``version_compat.py``: code elsewhere asks this
module ("mask this secret without blocking", "does the triggerer call on_kill?") instead of
testing versions itself, so supporting or dropping a release is one file's change. Supported:
Airflow 3.1 and later.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow import __version__ as _airflow_version
from airflow.triggers.base import BaseTrigger

if TYPE_CHECKING:
    from airflow_ft_provider.connection_fields import ConnectionForm


def _version_tuple(version: str) -> tuple[int, int]:
    major, minor = (int("".join(c for c in part if c.isdigit()) or 0) for part in version.split(".")[:2])
    return major, minor


AIRFLOW_V_3_2_PLUS = _version_tuple(_airflow_version) >= (3, 2)
AIRFLOW_V_3_3_PLUS = _version_tuple(_airflow_version) >= (3, 3)

#: Airflow 3.3+ calls ``BaseTrigger.on_kill`` when a user kills a deferred task (mark failed or
#: success, clear). Detected by the method itself rather than the version number.
TRIGGER_ON_KILL_SUPPORTED = "on_kill" in BaseTrigger.__dict__


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
    """Register secrets with Airflow's masker (blocking: workers, callbacks)."""
    from airflow.providers.common.compat.sdk import mask_secret

    for secret in secrets:
        mask_secret(secret)


async def amask_secrets(secrets: Sequence[str]) -> None:
    """Register secrets from the triggerer's event loop without a blocking supervisor call on it.

    Airflow 3.3 has ``amask_secret``; before, the blocking call runs in a thread (a sync call on the
    loop deadlocks the supervisor channel: apache/airflow#65286).
    """
    from airflow.sdk import log as sdk_log

    send_mask = getattr(sdk_log, "amask_secret", None)
    for secret in secrets:
        if send_mask is not None:
            await send_mask(secret)
        else:
            await asyncio.to_thread(sdk_log.mask_secret, secret)


# -- task state, from the triggerer ----------------------------------------------------------------
async def atask_state(dag_id: str, task_id: str, run_id: str) -> str | None:
    """The task instance's state as Airflow's API reports it now; None: it has none (just cleared).

    Raises LookupError when Airflow reports no such task instance. In the triggerer the question goes
    over the supervisor channel's own async call (every 3.x triggerer has ``asend``): a blocking call
    from a thread there was seen to hang until ``on_kill_timeout`` while a trigger was being cancelled.
    """
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.comms import GetTaskStates

    comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    ask = GetTaskStates(dag_id=dag_id, task_ids=[task_id], run_ids=[run_id])
    if comms is not None and hasattr(comms, "asend"):
        states = (await comms.asend(ask)).task_states
    else:
        states = await asyncio.to_thread(
            task_runner.RuntimeTaskInstance.get_task_states, dag_id=dag_id, task_ids=[task_id], run_ids=[run_id]
        )
    run = states.get(run_id, {})
    if task_id not in run:
        raise LookupError(f"no task instance {dag_id}.{task_id} in run {run_id}")
    state = run[task_id]
    return None if state is None else str(state).rsplit(".", 1)[-1].lower()


def has_supervisor() -> bool:
    """Whether this process talks to Airflow through the task SDK's supervisor channel.

    Workers and the dag-processor do; ``dag.test()`` running a DAG callback in the test's own
    process does not (the SDK's XCom calls fail there). The same test Airflow makes to choose its
    secrets backends (``ensure_secrets_backend_loaded``).
    """
    from airflow.sdk.execution_time import task_runner

    return getattr(task_runner, "SUPERVISOR_COMMS", None) is not None


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
