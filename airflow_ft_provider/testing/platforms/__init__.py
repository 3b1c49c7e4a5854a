"""One module per platform, each speaking that platform's wire format."""

from __future__ import annotations

from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.testing.platforms import dashscope, gemini, openai, together, vertex_ai
from airflow_ft_provider.testing.platforms._base import PlatformSpec

__all__ = ["SPECS", "PlatformSpec", "classify"]

SPECS: dict[Platform, PlatformSpec] = {
    m.SPEC.platform: m.SPEC for m in (vertex_ai, gemini, dashscope, together, openai)
}
_PREFIXES = [(prefix, spec.platform) for spec in SPECS.values() for prefix in spec.prefixes]


def classify(path: str) -> Platform | None:
    """Which platform a request path belongs to (their paths never collide)."""
    for prefix, platform in _PREFIXES:
        if path.startswith(prefix):
            return platform
    return None
