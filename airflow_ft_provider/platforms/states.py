"""A platform's job states, declared once: what the client normalizes and what the emulator shows.

Each dialect module declares ``STATES = StateTable(...)``: every native state the vendor
documents with its normalized :class:`~airflow_ft_provider.jobs.TuningJobState`, and the
timeline its emulator walks (which native state a job shows in each :class:`Phase`). The
dialect reads it as a mapping (``Dialect.states``); the emulator derives its phase names and
its "ended, cancel refused" set from it, and refuses to show a state the table lacks unless a
test asks for an undocumented one on purpose. So a state the client does not know can no
longer be one the emulator never sends.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import StrEnum
from types import MappingProxyType

from airflow_ft_provider.jobs import TuningJobState

__all__ = ["Phase", "StateTable"]


class Phase(StrEnum):
    """Where an emulated job is on its timeline; each platform shows it under its own name."""

    QUEUED = "queued"
    PENDING = "pending"
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        return self in _ENDED


_ENDED = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED})


class StateTable(Mapping[str, TuningJobState]):
    """Native state -> normalized state (a read-only mapping), plus the emulator's timeline.

    ``timeline`` names the native state shown in each phase. A platform without a cancelling
    state leaves :attr:`Phase.CANCELLING` out: a cancel that will take then reads as the
    cancelled state at once, one that loses the race keeps reading as running (OpenAI).
    """

    def __init__(self, states: Mapping[str, TuningJobState], timeline: Mapping[Phase, str]) -> None:
        self._states = MappingProxyType(dict(states))
        self.timeline: Mapping[Phase, str] = MappingProxyType(dict(timeline))
        #: Native states a job never leaves (normalized terminal): the emulator refuses their cancel.
        self.ended: frozenset[str] = frozenset(n for n, s in self._states.items() if s.is_terminal)
        self._check()

    def _check(self) -> None:
        """A timeline that shows a state the table lacks, or an ended one too early, is a typo."""
        missing = set(Phase) - {Phase.CANCELLING} - set(self.timeline)
        if missing:
            raise ValueError(f"timeline lacks phases {sorted(missing)}")
        for phase, native in self.timeline.items():
            if native not in self._states:
                raise ValueError(f"timeline shows {native!r} in {phase}, a state the table lacks")
            if (native in self.ended) != phase.ended:
                raise ValueError(f"timeline shows {native!r} in {phase}: ended and phase disagree")

    def __getitem__(self, native: str) -> TuningJobState:
        return self._states[native]

    def __iter__(self) -> Iterator[str]:
        return iter(self._states)

    def __len__(self) -> int:
        return len(self._states)

    def __repr__(self) -> str:
        return f"StateTable({dict(self._states)!r})"

    def shown(self, phase: Phase, cancel_outcome: Phase) -> str:
        """The native state a job shows in ``phase``, whose cancel (if any) ends in ``cancel_outcome``."""
        if phase is Phase.CANCELLING and phase not in self.timeline:
            phase = Phase.CANCELLED if cancel_outcome is Phase.CANCELLED else Phase.RUNNING
        return self.timeline[phase]

    def check_known(self, platform: str, native: str) -> None:
        """ValueError naming the known states, unless ``native`` is one of them."""
        if native not in self._states:
            raise ValueError(
                f"{native[:80]!r} is not a {platform} state the provider knows; known: {', '.join(self._states)}. "
                "To show an undocumented state on purpose, say so (undocumented=True)."
            )
