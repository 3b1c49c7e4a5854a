"""The emulator's state and the operations tests drive it with, minus any server.

:class:`EmulatorCore` is shared by the in-process controller (:class:`Emulator`), the
admin HTTP API and the platform routes, so "seed a job" means the same thing whether a
test calls a method or a separate process POSTs to ``/_emulator/seed``.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from airflow_ft_provider.platforms.registry import Platform
from airflow_ft_provider.testing.auth import GoogleAuth
from airflow_ft_provider.testing.entra import EntraAuth
from airflow_ft_provider.testing.faults import Fault, FaultBook
from airflow_ft_provider.testing.metering import Hint, Metering, Per, Quota
from airflow_ft_provider.testing.platforms import SPECS, seed_field_names
from airflow_ft_provider.testing.platforms._base import PlatformSpec
from airflow_ft_provider.testing.platforms.vertex_ai import OAUTH_ENDPOINT
from airflow_ft_provider.testing.reqlog import RequestLog, RequestRecord
from airflow_ft_provider.testing.routing import mount_path
from airflow_ft_provider.testing.store import Job, JobScript, JobStore

__all__ = ["DEFAULT_PROJECT_NUMBER", "EmulatorConfig", "EmulatorCore"]

DEFAULT_PROJECT_NUMBER = "123456789012"


def _default_keys() -> dict[str, str]:
    return {p.value: f"emulator-{p.value.replace('_', '-')}-key" for p in SPECS}


@dataclass
class EmulatorConfig:
    """Knobs fixed for the life of an emulator."""

    #: Valid credential per platform; for Vertex AI it is a static OAuth access token.
    api_keys: dict[str, str] = field(default_factory=_default_keys)
    #: Vertex project id -> number. Unmapped ids get 123456789012, 123456789013, ... in
    #: order of first use, so one project per test always reads 123456789012.
    vertex_project_numbers: dict[str, str] = field(default_factory=dict)
    #: Projects the static Vertex token may touch (ids or numbers); None: all of them.
    #: Tokens minted from a service-account key may always touch that key's project.
    vertex_allowed_projects: frozenset[str] | None = None
    #: False is faithful: the Gemini API publishes no cancel method.
    gemini_cancel_supported: bool = False
    #: Timeline of jobs created through the platforms' create endpoints.
    created_job_script: JobScript = field(default_factory=JobScript)

    def __post_init__(self) -> None:
        self.api_keys = {**_default_keys(), **{_platform(k).value: v for k, v in self.api_keys.items()}}
        if self.vertex_allowed_projects is not None:
            self.vertex_allowed_projects = frozenset(self.vertex_allowed_projects)


def _platform(platform: Platform | str) -> Platform:
    """The platform named, if it has an emulator; else a ValueError naming those that do."""
    try:
        found = platform if isinstance(platform, Platform) else Platform(platform)
    except ValueError:
        found = None
    if found is None or found not in SPECS:
        raise ValueError(f"no emulator for platform {str(platform)!r}; emulated: {', '.join(SPECS)}")
    return found


class EmulatorCore:
    """Jobs, faults, limits, latency, the request log and Google auth, behind one façade."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.config = config or EmulatorConfig()
        self.clock = clock
        self.store = JobStore(clock, wall)
        self.faults = FaultBook()
        self.limiter = Metering(clock)
        self.log = RequestLog(clock)
        self.google_auth = GoogleAuth()
        #: Microsoft Entra ID (Azure OpenAI's tokens): service principals, managed identity.
        self.entra = EntraAuth()
        self.latency: dict[Platform | None, float] = {}
        #: Where clients reach us; set by the server once it has a port.
        self.url = "http://127.0.0.1"
        self._numbers_lock = threading.Lock()
        self._numbers: dict[str, str] = {}
        self._next_number = itertools.count(int(DEFAULT_PROJECT_NUMBER))

    # -- addresses and credentials -------------------------------------------------
    def spec(self, platform: Platform | str) -> PlatformSpec:
        return SPECS[_platform(platform)]

    @property
    def platforms(self) -> list[Platform]:
        """Every emulated platform."""
        return list(SPECS)

    def platform_url(self, platform: Platform | str) -> str:
        """Where ``platform`` is served, standing in for its vendor's host: ``<emulator>/openai``."""
        return self.url + mount_path(_platform(platform))

    def base_url(self, platform: Platform | str) -> str:
        """What the provider's connection (and most SDKs) call ``platform``'s base URL:
        :meth:`platform_url` and the vendor's base path (``<emulator>/openai/v1``)."""
        return self.platform_url(platform) + self.spec(platform).base_path

    def api_key(self, platform: Platform | str) -> str:
        """The valid key (Vertex AI: the static access token) for ``platform``."""
        return self.config.api_keys[_platform(platform).value]

    def service_account_info(self, project_id: str) -> dict[str, str]:
        """A service-account JSON key whose ``token_uri`` is this emulator's OAuth token endpoint."""
        return self.google_auth.service_account_info(project_id, self.platform_url("vertex_ai") + OAUTH_ENDPOINT)

    def project_number(self, project: str) -> str:
        """The number Vertex AI shows in resource names for ``project`` (id or number)."""
        if project.isdigit():
            return project
        mapped = self.config.vertex_project_numbers.get(project)
        if mapped is not None:
            return mapped
        with self._numbers_lock:
            if project not in self._numbers:
                taken = set(self.config.vertex_project_numbers.values()) | set(self._numbers.values())
                number = str(next(self._next_number))
                while number in taken:
                    number = str(next(self._next_number))
                self._numbers[project] = number
            return self._numbers[project]

    # -- jobs -------------------------------------------------------------------------------------
    def seed(
        self,
        platform: Platform | str,
        *,
        display_name: str | None = None,
        base_model: str | None = None,
        script: JobScript | None = None,
        labels: Mapping[str, str] | None = None,
        created_ago_s: float = 0.0,
        native_state: str | None = None,
        undocumented: bool = False,
        error_message: str | None = None,
        extra: Mapping[str, Any] | None = None,
        job_id: str | None = None,
        **scope: str | None,
    ) -> str:
        """Add one job; returns the id a client would pass (a resource name on Google).

        ``scope`` is where the job lives, in the platform's own terms (Vertex AI:
        ``project``, ``location``; DashScope: ``workspace``); another platform's scope
        keywords are ignored, so one call can seed every platform. ``native_state`` pins the
        state it shows, one of its platform's table unless ``undocumented`` (see
        :meth:`set_native_state`).
        """
        spec = self.spec(platform)
        (job,) = self._add(
            spec,
            1,
            name=lambda _: display_name or "emulated-job",
            base_model=base_model,
            script=script,
            labels=labels,
            created_ago_s=created_ago_s,
            native_state=native_state,
            undocumented=undocumented,
            error_message=error_message,
            extra=extra,
            job_id=job_id,
            scope=scope,
        )
        return spec.client_id(self, job)

    def seed_many(
        self,
        platform: Platform | str,
        n: int,
        *,
        display_name: str | None = None,
        script: JobScript | None = None,
        created_ago_s: float = 0.0,
        created_over_s: float = 0.0,
        end_in_s: float | None = None,
        end_spread_s: float = 0.0,
        **kwargs: Any,
    ) -> list[str]:
        """``n`` jobs in one go (30,000 in well under a second); ids oldest first.

        A given ``display_name`` gets a ``-{i}`` suffix, else ``job-{i}``. Creation times
        spread evenly over ``created_over_s`` seconds ending ``created_ago_s`` ago (job 0
        the oldest). ``end_in_s`` makes the jobs end on a timeline instead of ``script``'s
        ``running_s``: job ``i`` ends ``end_in_s + end_spread_s * i / (n - 1)`` seconds from
        now, in ``script.end_state``, unless cancelled first. Other keywords as :meth:`seed`.
        """
        if n < 0:
            raise ValueError("seed_many needs n >= 0")
        if kwargs.get("job_id"):
            raise ValueError("seed_many cannot force one job_id on many jobs")
        if min(created_over_s, end_spread_s) < 0:
            raise ValueError("created_over_s and end_spread_s must be >= 0")
        spec = self.spec(platform)
        script = script or JobScript()
        step = 1 / (n - 1) if n > 1 else 0.0

        def age(i: int) -> float:
            return created_ago_s + created_over_s * (n - 1 - i) * step

        ends = end_in_s or 0.0

        def timed(i: int) -> JobScript:
            """``script`` running until job ``i``'s place on the end timeline."""
            running_s = age(i) + ends + end_spread_s * i * step - script.queued_s - script.pending_s
            if running_s < 0:
                raise ValueError(
                    f"job {i} would end {ends + end_spread_s * i * step:g} s from now, before its "
                    "queued_s + pending_s are over: raise end_in_s or shorten the script"
                )
            return replace(script, running_s=running_s)

        jobs = self._add(
            spec,
            n,
            name=(lambda i: f"{display_name}-{i}") if display_name else (lambda i: f"job-{i}"),
            script=script,
            scripts=timed if end_in_s is not None else None,
            created_ago=age,
            scope={k: kwargs.pop(k) for k in list(kwargs) if k in seed_field_names()},
            **kwargs,
        )
        return [spec.client_id(self, job) for job in jobs]

    def add_job(self, platform: Platform | str, **kwargs: Any) -> Job:
        """The job :meth:`seed` would add, itself: for the platforms' create routes."""
        spec = self.spec(platform)
        display_name = kwargs.pop("display_name", None)
        scope = {k: kwargs.pop(k) for k in list(kwargs) if k in seed_field_names()}
        return self._add(spec, 1, name=lambda _: display_name or "emulated-job", scope=scope, **kwargs)[0]

    def _add(
        self,
        spec: PlatformSpec,
        n: int,
        *,
        name: Callable[[int], str],
        base_model: str | None = None,
        script: JobScript | None = None,
        scripts: Callable[[int], JobScript] | None = None,
        labels: Mapping[str, str] | None = None,
        created_ago_s: float = 0.0,
        created_ago: Callable[[int], float] | None = None,
        native_state: str | None = None,
        undocumented: bool = False,
        error_message: str | None = None,
        extra: Mapping[str, Any] | None = None,
        job_id: str | None = None,
        scope: Mapping[str, str | None],
    ) -> list[Job]:
        if native_state is not None and not undocumented:
            spec.states.check_known(spec.platform, native_state)
        unknown = set(scope) - seed_field_names()
        if unknown:
            known = ", ".join(sorted(seed_field_names())) or "none"
            raise TypeError(f"unknown seed fields {sorted(unknown)}: jobs take these scope fields: {known}")
        given = {k: scope.get(k) for k in spec.seed_fields}
        job_scope, partition = spec.scope(
            self, {k: v if v is not None else spec.seed_fields[k] for k, v in given.items()}
        )
        one = script or JobScript()
        return self.store.add_many(
            spec.platform,
            spec.new_id,
            n,
            display_name=name,
            base_model=base_model or spec.default_base_model,
            script=scripts or (lambda _: one),
            created_ago_s=created_ago or (lambda _: created_ago_s),
            native_id=spec.native_id(job_id) if job_id else None,
            labels=dict(labels or {}),
            scope=job_scope,
            partition=partition,
            error_message=error_message,
            extra=dict(extra or {}),
            pinned=native_state,
        )

    def find(self, platform: Platform | str, job_id: str) -> Job | None:
        spec = self.spec(platform)
        return self.store.get(spec.platform, spec.native_id(job_id))

    def _job(self, platform: Platform | str, job_id: str) -> Job:
        job = self.find(platform, job_id)
        if job is None:
            raise KeyError(f"no {platform} job {job_id!r}")
        return job

    def job_state(self, platform: Platform | str, job_id: str) -> str:
        """The native state string a client reading the job now would see."""
        spec = self.spec(platform)
        return spec.native_state(self.store.view(self._job(platform, job_id)))

    def job_phase(self, platform: Platform | str, job_id: str) -> str:
        """The platform-neutral phase (``queued`` ... ``cancelled``) now."""
        return str(self.store.view(self._job(platform, job_id)).phase)

    def set_native_state(
        self, platform: Platform | str, job_id: str, native_state: str | None, *, undocumented: bool = False
    ) -> None:
        """Pin the reported state to ``native_state``, one of the platform's state table (ValueError
        naming them otherwise); None resumes the script. ``undocumented=True`` allows any string: a
        state no vendor documents, to test how the provider reads one it does not know."""
        spec = self.spec(platform)
        if native_state is not None and not undocumented:
            spec.states.check_known(spec.platform, native_state)
        self.store.pin(self._job(platform, job_id), native_state)

    def jobs(self, platform: Platform | str | None = None) -> list[dict[str, str]]:
        """Every job: platform, client id, phase and native state (newest first)."""
        out = []
        for spec in [self.spec(platform)] if platform else SPECS.values():
            p = spec.platform
            for v in self.store.views(p):
                out.append(
                    {
                        "platform": p.value,
                        "job_id": spec.client_id(self, v.job),
                        "phase": str(v.phase),
                        "native_state": spec.native_state(v),
                    }
                )
        return out

    # -- faults, latency, limits, log -----------------------------------------------
    def inject(self, platform: Platform | str, fault: Fault) -> None:
        """Queue ``fault`` for the next matching requests to ``platform``."""
        self.faults.add(_platform(platform), fault)

    def clear_faults(self, platform: Platform | str | None = None) -> None:
        self.faults.clear(_platform(platform) if platform else None)

    def set_latency(self, seconds: float, platform: Platform | str | None = None) -> None:
        """Added delay before every API answer (per platform, else the default for all)."""
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        self.latency[_platform(platform) if platform else None] = seconds

    def latency_for(self, platform: Platform) -> float:
        return self.latency.get(platform, self.latency.get(None, 0.0))

    def set_rate_limit(
        self,
        platform: Platform | str,
        per_second: float | None,
        burst: float | None = None,
        *,
        per: Per = "platform",
        hint: Hint = "exact",
    ) -> None:
        """Token bucket: ``per_second`` refill, ``burst`` size (default max(1, per_second)).

        Requests beyond it get the platform's 429 with its retry hint (see
        :mod:`~airflow_ft_provider.testing.metering`). None lifts the limit.
        """
        quota = None if per_second is None else Quota.token_bucket(per_second, burst, per=per, hint=hint)
        self.limiter.set(_platform(platform), quota)

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
        """At most ``limit`` requests per ``window_s`` (fixed windows, or ``sliding``) per
        project, key or platform, like Vertex AI's 600 per minute per project and region.

        Requests beyond it get the platform's 429 with a whole-second hint (or none, with
        ``hint="none"``); it replaces any rate limit of the platform. None lifts it.
        """
        quota = None if limit is None else Quota.window(limit, window_s=window_s, per=per, sliding=sliding, hint=hint)
        self.limiter.set(_platform(platform), quota)

    def requests(self, platform: Platform | str | None = None, since: float | None = None) -> list[RequestRecord]:
        """The request log (credentials redacted), oldest first."""
        return self.log.list(_platform(platform) if platform else None, since)

    def clear_requests(self) -> None:
        self.log.clear()

    def revoke_tokens(self) -> None:
        """Invalidate every access token issued so far, to test a client's re-authentication."""
        self.google_auth.reset_tokens()
        self.entra.revoke_tokens()

    def reset(self) -> None:
        """Forget jobs, faults, limits, latency and the log.

        Service-account keys and the tokens minted from them survive, so a client that
        cached a token in an earlier test keeps working.
        """
        self.store.clear()
        self.faults.clear()
        self.limiter.clear()
        self.latency.clear()
        self.log.clear()
        self.entra.token_lifetime_s = self.entra.default_lifetime_s
        self.entra.issued.clear()
        with self._numbers_lock:
            self._numbers.clear()
            self._next_number = itertools.count(int(DEFAULT_PROJECT_NUMBER))
