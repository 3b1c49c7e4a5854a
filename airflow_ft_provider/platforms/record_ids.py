"""Which job a listed record is, without building its :class:`~airflow_ft_provider.jobs.TuningJob`.

The triggerer's watcher lists thousands of records and waits for a few hundred of them: building
the normalized record (times, states, validation) of every one would cost about ten times the
JSON parse. Every platform's record names its job in one field whose value is the id as the
dialect reads it (Vertex AI's ``name``, OpenAI's ``id``, DashScope's ``job_id``, Bedrock's
``jobArn``), so the field is learned from the first record, parsed in full by
:meth:`Dialect.job_from_json`, and looked up directly after that: a platform added later needs
nothing. Every record that is then parsed checks it: one whose parsed id disagrees makes the
reader forget the field and parse whole records from then on, so a guess can cost time, never a
wrong answer.

A watched job's record rarely changes between two listings (a running job's record is the same
until its state does), so a job whose record has the text it had when last built is not built
again: the text is the whole record (``repr`` of the parsed JSON), so any change rebuilds it. A
job not asked for in :data:`KEEP_LISTINGS` listings (its wait ended) is forgotten.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_ft_provider.jobs import TuningJob
    from airflow_ft_provider.platforms.base import ApiResponse, Dialect


#: Listings a built job is kept for without being asked for (a wait polls every 30 s at most,
#: listings come at most every second).
KEEP_LISTINGS = 64


class RecordIds:
    """Reads listed records' job ids for one dialect, learning which field holds them."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        #: The field that held the id of the first record parsed; None: not learned (yet, or at all).
        self.field: str | None = None
        self._tried = False
        #: By job key: the record's text when last built, the job built, the listing that last asked.
        self._jobs: dict[str, tuple[str, TuningJob, int]] = {}
        self._listing = 0

    def id_of(self, item: Any, response: ApiResponse) -> str | None:
        """The job id of a raw listed record (None: it shows none)."""
        if self.field is not None:
            value = item.get(self.field) if isinstance(item, dict) else None
            return value if isinstance(value, str) else None
        job_id = self.dialect.job_from_json(item, response).job_id
        if not self._tried:
            self._tried = True
            self.field = next((k for k, v in item.items() if v == job_id), None)
        return job_id

    def agrees(self, item: Any, job: TuningJob) -> bool:
        """Whether ``job`` (``item`` parsed in full) has the id its field showed; if not, the field
        is forgotten (the reader parses whole records from now on)."""
        if self.field is None or (isinstance(item, dict) and item.get(self.field) == job.job_id):
            return True
        self.field = None
        return False

    def new_listing(self) -> None:
        """A listing starts; now and then, jobs no listing asked for in a while are forgotten."""
        self._listing += 1
        if self._listing % KEEP_LISTINGS == 0:
            oldest = self._listing - KEEP_LISTINGS
            self._jobs = {key: entry for key, entry in self._jobs.items() if entry[2] > oldest}

    def job(self, key: str, item: Any, response: ApiResponse) -> tuple[TuningJob, bool]:
        """``item``, the record of the job ``key``, as a job; and whether it was built now (False:
        the record is the one it was built from before)."""
        text = repr(item)
        entry = self._jobs.get(key)
        if entry is not None and entry[0] == text:
            job, built = entry[1], False
        else:
            job, built = self.dialect.job_from_json(item, response), True
        self._jobs[key] = (text, job, self._listing)
        return job, built
