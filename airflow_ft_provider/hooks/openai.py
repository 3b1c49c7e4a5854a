"""Compatibility: the hook's earlier import path. It now lives in :mod:`airflow_ft_provider.hooks.api_key`."""

from airflow_ft_provider.hooks.api_key import OpenAITuningHook
from airflow_ft_provider.hooks.api_key import OpenAITuningHook as OpenAIFineTuningHook

__all__ = ["OpenAIFineTuningHook", "OpenAITuningHook"]
