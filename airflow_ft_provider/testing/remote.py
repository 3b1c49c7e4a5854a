"""Drive an emulator running in another process through its ``/_emulator`` admin API.

Same method names as :class:`Emulator`, so a demo or a user's DAG test reads alike
whether the emulator is in-process or started with ``python -m airflow_ft_provider.testing``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import httpx

from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.testing.faults import Fault
from airflow_ft_provider.testing.metering import Hint, Per
from airflow_ft_provider.testing.reqlog import RequestRecord
from airflow_ft_provider.testing.store import JobScript

__all__ = ["RemoteEmulator"]


class RemoteEmulator:
    """A client of a running emulator's admin API (``url`` without a trailing slash)."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url + "/_emulator", timeout=timeout)
        self._config: dict[str, Any] | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteEmulator:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.status_code == 404:
            raise KeyError(response.json().get("error", path))
        if response.status_code >= 400:
            raise ValueError(response.json().get("error", response.text))
        return response.json()

    def _cfg(self) -> dict[str, Any]:
        if self._config is None:
            self._config = self._call("GET", "/config")
        return self._config

    def platform_url(self, platform: Platform | str) -> str:
        """As :meth:`Emulator.platform_url`: ``<emulator>/<platform>``, standing in for the vendor's host."""
        return str(self._cfg()["platform_urls"][Platform(platform).value])

    def base_url(self, platform: Platform | str) -> str:
        """As :meth:`Emulator.base_url`: :meth:`platform_url` and the vendor's base path."""
        return str(self._cfg()["base_urls"][Platform(platform).value])

    def api_key(self, platform: Platform | str) -> str:
        return str(self._cfg()["api_keys"][Platform(platform).value])

    def healthy(self) -> bool:
        try:
            return bool(self._call("GET", "/health")["status"] == "ok")
        except httpx.HTTPError:
            return False

    def seed(self, platform: Platform | str, *, script: JobScript | None = None, **kwargs: Any) -> str:
        return self.seed_many(platform, None, script=script, **kwargs)[0]

    def seed_many(
        self, platform: Platform | str, n: int | None, *, script: JobScript | None = None, **kwargs: Any
    ) -> list[str]:
        """As :meth:`Emulator.seed_many` (``n=None``: one job, as :meth:`Emulator.seed`)."""
        body: dict[str, Any] = {"platform": Platform(platform).value, **kwargs}
        if n is not None:
            body["n"] = n
        if script is not None:
            body["script"] = asdict(script)
        return list(self._call("POST", "/seed", json=body)["job_ids"])

    def jobs(self, platform: Platform | str | None = None) -> list[dict[str, str]]:
        params = {"platform": Platform(platform).value} if platform else {}
        return list(self._call("GET", "/jobs", params=params)["jobs"])

    def job_state(self, platform: Platform | str, job_id: str) -> str:
        params = {"platform": Platform(platform).value, "job_id": job_id}
        return str(self._call("GET", "/job", params=params)["native_state"])

    def job_phase(self, platform: Platform | str, job_id: str) -> str:
        params = {"platform": Platform(platform).value, "job_id": job_id}
        return str(self._call("GET", "/job", params=params)["phase"])

    def set_native_state(
        self, platform: Platform | str, job_id: str, native_state: str | None, *, undocumented: bool = False
    ) -> None:
        body = {
            "platform": Platform(platform).value,
            "job_id": job_id,
            "native_state": native_state,
            "undocumented": undocumented,
        }
        self._call("POST", "/job-state", json=body)

    def inject(self, platform: Platform | str, fault: Fault) -> None:
        self._call("POST", "/faults", json={"platform": Platform(platform).value, "fault": fault.to_dict()})

    def clear_faults(self, platform: Platform | str | None = None) -> None:
        self._call("DELETE", "/faults", params={"platform": Platform(platform).value} if platform else {})

    def set_latency(self, seconds: float, platform: Platform | str | None = None) -> None:
        body: dict[str, Any] = {"seconds": seconds}
        if platform:
            body["platform"] = Platform(platform).value
        self._call("POST", "/latency", json=body)

    def set_rate_limit(
        self,
        platform: Platform | str,
        per_second: float | None,
        burst: float | None = None,
        *,
        per: Per = "platform",
        hint: Hint = "exact",
    ) -> None:
        body = {
            "platform": Platform(platform).value,
            "per_second": per_second,
            "burst": burst,
            "per": per,
            "hint": hint,
        }
        self._call("POST", "/rate-limit", json=body)

    def set_quota(
        self,
        platform: Platform | str,
        limit: int | None,
        *,
        window_s: float = 60.0,
        per: Per = "project",
        sliding: bool = False,
        hint: Hint = "seconds",
    ) -> None:
        body = {
            "platform": Platform(platform).value,
            "limit": limit,
            "window_s": window_s,
            "per": per,
            "sliding": sliding,
            "hint": hint,
        }
        self._call("POST", "/quota", json=body)

    def requests(self, platform: Platform | str | None = None, since: float | None = None) -> list[RequestRecord]:
        params: dict[str, Any] = {}
        if platform:
            params["platform"] = Platform(platform).value
        if since is not None:
            params["since"] = since
        return [RequestRecord.from_dict(r) for r in self._call("GET", "/requests", params=params)["requests"]]

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def service_account_info(self, project_id: str) -> dict[str, str]:
        return dict(self._call("GET", "/service-account", params={"project_id": project_id}))

    def project_number(self, project: str) -> str:
        return str(self._call("GET", "/project-number", params={"project": project})["number"])

    def reset(self) -> None:
        self._call("POST", "/reset")
