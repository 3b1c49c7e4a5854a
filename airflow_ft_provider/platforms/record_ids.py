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
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_ft_provider.jobs import TuningJob
    from airflow_ft_provider.platforms.base import ApiResponse, Dialect


class RecordIds:
    """Reads listed records' job ids for one dialect, learning which field holds them."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        #: The field that held the id of the first record parsed; None: not learned (yet, or at all).
        self.field: str | None = None
        self._tried = False

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
