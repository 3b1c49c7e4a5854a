"""Cancel, wait and confirm, written once for workers and the triggerer (see ``flows.steps``)."""

from airflow_ft_provider.flows.cancel import CancelAction, CancelResult, cancel_flow
from airflow_ft_provider.flows.confirm import Confirmation, confirm_flow
from airflow_ft_provider.flows.steps import (
    CancelJob,
    Count,
    Flow,
    GetJob,
    GetJobs,
    Listed,
    ListUntil,
    Sleep,
    Step,
    arun_flow,
    run_flow,
)
from airflow_ft_provider.flows.wait import MAX_TRANSIENT_ERRORS, PollSchedule, WaitResult, WaitStatus, wait_flow
from airflow_ft_provider.flows.watch import Round, cheaper_to_list, read_round

__all__ = [
    "MAX_TRANSIENT_ERRORS",
    "CancelAction",
    "CancelJob",
    "CancelResult",
    "Confirmation",
    "Count",
    "Flow",
    "GetJob",
    "GetJobs",
    "ListUntil",
    "Listed",
    "PollSchedule",
    "Round",
    "Sleep",
    "Step",
    "WaitResult",
    "WaitStatus",
    "arun_flow",
    "cancel_flow",
    "cheaper_to_list",
    "confirm_flow",
    "read_round",
    "run_flow",
    "wait_flow",
]
