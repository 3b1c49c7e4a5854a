"""Hook for Amazon SageMaker AI training jobs, on an ``ft_sagemaker`` connection or an ``aws`` one
whose ``platform`` extra is ``sagemaker``."""

from __future__ import annotations

from airflow_ft_provider.hooks.aws import AwsTuningHook
from airflow_ft_provider.hooks.base import declare_hook
from airflow_ft_provider.platforms.sagemaker import RECORD


@declare_hook(RECORD)
class SageMakerTrainingHook(AwsTuningHook):
    """SageMaker training jobs of one account and region (see :mod:`.aws`)."""
