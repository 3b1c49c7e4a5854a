"""Hook for Amazon Bedrock model customization jobs, on an ``ft_bedrock`` or an ``aws`` connection."""

from __future__ import annotations

from airflow_ft_provider.hooks.aws import AwsTuningHook
from airflow_ft_provider.hooks.base import declare_hook
from airflow_ft_provider.platforms.bedrock import RECORD


@declare_hook(RECORD)
class BedrockCustomizationHook(AwsTuningHook):
    """Bedrock model customization jobs of one account and region (see :mod:`.aws`); a Password
    without a Login is a Bedrock API key."""
