"""What the triggerer's shared watcher did (``triggers.watcher``): counts, never times, so that
benchmarks and tests can say how states were read (requests per state, the share listings served)
on any machine, loaded or not."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class WatchStats:
    """What the watcher did, for logs, benchmarks and tests (counts, never times)."""

    #: Listing rounds, the listings they sent and the pages those fetched (requests).
    rounds: int = 0
    listings: int = 0
    pages: int = 0
    #: Records listed, and those built into jobs (the watched ones).
    records: int = 0
    built: int = 0
    #: Targeted reads (requests), urgent ones among them.
    reads: int = 0
    urgent_reads: int = 0
    #: States handed to waiting triggers, and those a listing served.
    answered: int = 0
    listed_answers: int = 0
    #: Times the round loop woke up.
    wakes: int = 0

    @property
    def requests(self) -> int:
        return self.pages + self.reads

    def requests_per_answer(self) -> float:
        return self.requests / self.answered if self.answered else math.nan

    def listed_share(self) -> float:
        return self.listed_answers / self.answered if self.answered else math.nan
