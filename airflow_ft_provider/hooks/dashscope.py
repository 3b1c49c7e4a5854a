"""Compatibility: the hook's earlier import path. It now lives in :mod:`airflow_ft_provider.hooks.api_key`."""

from airflow_ft_provider.hooks.api_key import DashScopeTuningHook
from airflow_ft_provider.hooks.api_key import DashScopeTuningHook as DashScopeFineTuningHook

__all__ = ["DashScopeFineTuningHook", "DashScopeTuningHook"]
