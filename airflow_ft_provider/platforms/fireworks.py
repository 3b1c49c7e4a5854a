"""Fireworks AI fine-tuning jobs: supervised, DPO and reinforcement (``/v1/accounts/{a}/...``).

Facts from the fireworks-ai SDK 1.2 (``resources/supervised_fine_tuning_jobs.py``, ``dpo_jobs.py``,
``reinforcement_fine_tuning_jobs.py`` and their ``types``). Three kinds of job, each a collection
of the account; a job is named by its resource name ``accounts/{account}/{collection}/{id}``, so
its kind is part of its id. The API is Google-shaped outside Google: AIP-158 page tokens,
``:cancel`` answering ``{}``, ``google.rpc.Status`` errors, proto3 JSON (RFC 3339 times, enum
names). A connection's listing reads the three collections one after another
(:meth:`FireworksDialect.list_urls`).

Ids a user may pass: the full name, or ``{collection}/{id}`` in the connection's account. A bare
id is refused: the same id could name a job of any kind. A full name of another account is
refused too: the connection's key and listing are the account's, so such a job is not this
connection's to cancel (use a connection of that account).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Self

from airflow_ft_provider.connection_fields import COMMON_FIELDS, ConnectionForm, ConnField
from airflow_ft_provider.errors import InvalidJobIdError
from airflow_ft_provider.jobs import JobUsage, TuningJob, TuningJobState
from airflow_ft_provider.platforms.base import ApiRequest, ApiResponse, Operation
from airflow_ft_provider.platforms.extras import ExtraError, Extras
from airflow_ft_provider.platforms.fields import mapping, parse_time, text
from airflow_ft_provider.platforms.ids import check_id_text, invalid_id
from airflow_ft_provider.platforms.paging import PageSize, PageTokens
from airflow_ft_provider.platforms.paging_base import is_int
from airflow_ft_provider.platforms.record import ApiKeyAuth, PlatformRecord
from airflow_ft_provider.platforms.resource_names import ResourceNameDialect, job_state
from airflow_ft_provider.platforms.states import Phase, StateTable

DEFAULT_BASE_URL = "https://api.fireworks.ai"
#: The job collections of an account, one per kind of job, in the order a listing reads them.
COLLECTIONS = ("supervisedFineTuningJobs", "dpoJobs", "reinforcementFineTuningJobs")

#: ``JobState`` as all three job types of the SDK declare it (the same 18 values).
STATES = StateTable(
    {
        "JOB_STATE_UNSPECIFIED": TuningJobState.UNKNOWN,
        "JOB_STATE_CREATING": TuningJobState.QUEUED,
        # Back in the queue after losing its machines: it will run again.
        "JOB_STATE_RE_QUEUEING": TuningJobState.QUEUED,
        "JOB_STATE_PENDING": TuningJobState.PENDING,
        # Checking or preparing the dataset before training starts.
        "JOB_STATE_VALIDATING": TuningJobState.PENDING,
        "JOB_STATE_CREATING_INPUT_DATASET": TuningJobState.PENDING,
        # Waiting for work (a reinforcement job between steps): not ended, so still cancellable.
        "JOB_STATE_IDLE": TuningJobState.PENDING,
        "JOB_STATE_RUNNING": TuningJobState.RUNNING,
        # Training is over, the model is being written: still running and billed.
        "JOB_STATE_WRITING_RESULTS": TuningJobState.RUNNING,
        "JOB_STATE_CANCELLING": TuningJobState.CANCELLING,
        # Being deleted: going away without a cancel, not ended until its record is gone.
        "JOB_STATE_DELETING": TuningJobState.CANCELLING,
        "JOB_STATE_DELETING_CLEANING_UP": TuningJobState.CANCELLING,
        # "Typically due to account suspension or manual intervention" (the SDK): resumable.
        "JOB_STATE_PAUSED": TuningJobState.PAUSED,
        "JOB_STATE_COMPLETED": TuningJobState.SUCCEEDED,
        # Stopped by its own early-stopping rule with a usable model: for a cancel, the job won the race.
        "JOB_STATE_EARLY_STOPPED": TuningJobState.SUCCEEDED,
        "JOB_STATE_FAILED": TuningJobState.FAILED,
        "JOB_STATE_CANCELLED": TuningJobState.CANCELLED,
        "JOB_STATE_EXPIRED": TuningJobState.EXPIRED,
    },
    timeline={
        Phase.QUEUED: "JOB_STATE_CREATING",
        Phase.PENDING: "JOB_STATE_PENDING",
        Phase.RUNNING: "JOB_STATE_RUNNING",
        Phase.CANCELLING: "JOB_STATE_CANCELLING",
        Phase.SUCCEEDED: "JOB_STATE_COMPLETED",
        Phase.FAILED: "JOB_STATE_FAILED",
        Phase.CANCELLED: "JOB_STATE_CANCELLED",
    },
)

# Resource ids (AIP-122): letters, digits and hyphens; lower case in practice, upper case accepted.
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9-]{0,62}"
_KIND = "|".join(COLLECTIONS)
_FULL_NAME = re.compile(rf"accounts/({_SEGMENT})/({_KIND})/({_SEGMENT})")
_SHORT_NAME = re.compile(rf"({_KIND})/({_SEGMENT})")
_ACCOUNT = re.compile(_SEGMENT)
_UNITS = re.compile(r"-?[0-9]{1,20}")
ID_EXAMPLE = "accounts/my-account/supervisedFineTuningJobs/abc123def456"


@dataclass(frozen=True)
class JobName:
    """A job's resource name, split into its parts."""

    account: str
    collection: str
    job: str

    def __str__(self) -> str:
        return f"accounts/{self.account}/{self.collection}/{self.job}"


class FireworksDialect(ResourceNameDialect):
    """``cancel_ack``: ``{}`` (``google.protobuf.Empty``; the SDK reads the answer as a bare ``object``)."""

    platform = "fireworks"
    id_pattern = _FULL_NAME
    id_example = ID_EXAMPLE
    states = STATES
    #: ``pageSize`` (default 50, above 200 lowered to 200) / ``pageToken`` -> ``{<collection>: [...],
    #: "nextPageToken", "totalSize"}``: each collection's answer holds its jobs under its own name.
    paging = PageTokens(
        PageSize("pageSize", 200, default=50, zero_is_default=True),
        COLLECTIONS[0],
        total_key="totalSize",
        items_under_collection=True,
    )

    def __init__(self, base_url: str | None, account: str) -> None:
        """Raises ``ValueError`` naming a bad account; the hook words it for the connection."""
        if not isinstance(account, str) or not _ACCOUNT.fullmatch(account):
            raise ValueError(
                f"Fireworks account {account!r:.80} is not valid; expected an account id like 'my-account'."
            )
        super().__init__(base_url or DEFAULT_BASE_URL)
        self.account = account

    @classmethod
    def from_extras(cls, base_url: str | None, extras: Extras) -> Self:
        account = extras.text("account")
        if not account:
            raise ExtraError(
                "it names no Fireworks account. Set the 'account' extra (Account ID) to the id of the account "
                "that owns the jobs: the <id> of accounts/<id>, shown in the Fireworks dashboard and by "
                "`firectl whoami`."
            )
        try:
            return cls(base_url, account=account.removeprefix("accounts/"))
        except ValueError as exc:
            raise ExtraError(f"{exc} Fix it in the extras.") from None

    # -- ids and URLs -------------------------------------------------------------------
    def job_name(self, job_id: object) -> JobName:
        """The full resource name for an accepted id form, or :class:`InvalidJobIdError`."""
        check_id_text(job_id, self.platform, self.id_example)
        assert isinstance(job_id, str)
        if full := _FULL_NAME.fullmatch(job_id):
            name = JobName(*full.groups())
            if name.account != self.account:
                raise InvalidJobIdError(
                    f"Fireworks job {job_id!r} belongs to account {name.account!r}, but this connection's account "
                    f"is {self.account!r}. Use a connection whose 'account' extra is {name.account!r}.",
                    platform=self.platform,
                )
            return name
        if short := _SHORT_NAME.fullmatch(job_id):
            return JobName(self.account, *short.groups())
        if _ACCOUNT.fullmatch(job_id):
            raise invalid_id(
                job_id,
                self.platform,
                self.id_example,
                "a bare id does not say which kind of job it is. Pass the full name "
                f"(accounts/{self.account}/<collection>/{job_id}) or <collection>/{job_id}, where <collection> "
                f"is one of {', '.join(COLLECTIONS)}",
            )
        raise invalid_id(job_id, self.platform, self.id_example)

    def canonical_id(self, job_id: object) -> str:
        return str(self.job_name(job_id))

    def job_key(self, job_id: str) -> str:
        try:
            return str(self.job_name(job_id))
        except InvalidJobIdError:
            return job_id

    def _job_url(self, name: JobName) -> str:
        return self.url("v1", "accounts", name.account, name.collection, name.job)

    # -- requests -----------------------------------------------------------------------
    def get_request(self, job_id: str) -> ApiRequest:
        name = self.job_name(job_id)
        return ApiRequest(Operation.GET, "GET", self._job_url(name), job_id=str(name))

    def list_url(self) -> str:
        """The supervised jobs: the collection a connection Test reads and a listing reads first."""
        return self.list_urls()[0]

    def list_urls(self) -> tuple[str, ...]:
        return tuple(self.url("v1", "accounts", self.account, collection) for collection in COLLECTIONS)

    def cancel_request(self, job_id: str) -> ApiRequest:
        name = self.job_name(job_id)
        return self.cancel_method(self._job_url(name), str(name))

    # -- responses ----------------------------------------------------------------------
    def job_from_json(self, item: Any, response: ApiResponse) -> TuningJob:
        if not isinstance(item, dict):
            raise self.malformed("Fine-tuning job record is not a JSON object", response)
        native = job_state(item)
        state = self.map_state(native)
        # Supervised jobs carry the models at the top; DPO and reinforcement jobs in trainingConfig.
        config = mapping(item.get("trainingConfig"))
        status = mapping(item.get("status"))
        return self.job(
            response,
            job_id=text(item.get("name")),
            state=state,
            native_state=str(native),
            display_name=text(item.get("displayName")),
            base_model=text(item.get("baseModel")) or text(config.get("baseModel")),
            tuned_model=text(item.get("outputModel")) or text(config.get("outputModel")),
            created_at=parse_time(item.get("createTime")),
            updated_at=parse_time(item.get("updateTime")),
            ended_at=parse_time(item.get("completedTime")),
            error_message=text(status.get("message")) if state is TuningJobState.FAILED else None,
            usage=estimated_cost(item.get("estimatedCost")),
        )


def estimated_cost(value: object) -> JobUsage | None:
    """``google.type.Money`` (``units`` an int64 as a string, ``nanos`` an int) as an exact Decimal,
    ``12`` and ``400000000`` as ``12.4``; None when absent or not a sum of money (an unreadable cost
    must not fail a cancel)."""
    money = mapping(value)
    units, nanos = money.get("units", "0"), money.get("nanos", 0)
    whole = str(units) if isinstance(units, str) or is_int(units) else ""
    if not money or not _UNITS.fullmatch(whole) or not is_int(nanos) or abs(nanos) > 999_999_999:
        return None
    # normalize() drops the trailing zeros of the nanos; with none, the whole units stay as they are.
    cost = (Decimal(whole) + Decimal(nanos).scaleb(-9)).normalize() if nanos else Decimal(whole)
    return JobUsage(cost=cost, currency=text(money.get("currencyCode")), estimated=True)


RECORD = PlatformRecord(
    name="fireworks",
    title="Fireworks AI",
    conn_type="ft_fireworks",
    dialect=FireworksDialect,
    form=ConnectionForm(
        fields=(
            ConnField(
                "account",
                "Account ID",
                "Required. The Fireworks account that owns the jobs (the <id> of accounts/<id>).",
                required=True,
                example="my-account",
            ),
            *COMMON_FIELDS,
        ),
        host_placeholder=DEFAULT_BASE_URL,
    ),
    hook_class_name="FireworksTuningHook",
    api_key=ApiKeyAuth("Fireworks AI API key"),
)
