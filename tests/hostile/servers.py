"""Hostile HTTP servers for the transport-contract tests: real sockets on 127.0.0.1.

Each server speaks just enough of one platform (OpenAI, or Vertex AI) to be plausible: a
small job store answers get, list and cancel as that platform would. A test then scripts
hostile answers per request: ``server.then(redirect(302, url))`` answers the next request
with a redirect and every later one normally; ``server.always(trickle(0.05), on="get")``
answers every read a byte at a time. Answers write raw bytes to the socket, so they can
break HTTP in ways no web framework allows (a Content-Length that lies, a body that never
ends, headers one byte at a time).

Every answer stops at the server's caps (seconds and bytes written): a client that never
stops (today's code, in the tests that prove a bound) cannot hold a test or fill memory
for long.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import itertools
import json
import re
import socket
import socketserver
import threading
import time
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from airflow_ft_provider.jobs import Platform

#: Longest request line or header section read: a 64 KiB page token must still arrive.
MAX_HEAD = 1 << 20
PROJECT = "hostile-project"
LOCATION = "us-central1"


class Closed(Exception):
    """The client went away, the server is stopping, or the answer reached a cap."""


# -- requests -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    """One request as the server read it, with what the platform would make of it."""

    method: str
    target: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    at: float  # time.monotonic() when read
    #: "get", "list" or "cancel" when the path is one of the platform's, else None.
    operation: str | None
    #: The job the path names (the bare id the test passes to the hook), if any.
    job_id: str | None


# -- the platforms ----------------------------------------------------------------------------
class Speaker(ABC):
    """What one platform's requests and bodies look like (no I/O)."""

    platform: Platform
    running: str
    cancelled: str
    succeeded: str

    @abstractmethod
    def route(self, method: str, path: str) -> tuple[str, str | None] | None:
        raise NotImplementedError

    @abstractmethod
    def new_id(self, n: int) -> str:
        raise NotImplementedError

    @abstractmethod
    def job(self, job_id: str, state: str | None = None, **fields: Any) -> dict[str, Any]:
        raise NotImplementedError

    @abstractmethod
    def page(self, jobs: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
        raise NotImplementedError

    @abstractmethod
    def page_request(self, request: Request) -> tuple[int, str | None]:
        """(page size, token) of a list request."""
        raise NotImplementedError

    @abstractmethod
    def offset(self, token: str | None, ids: list[str]) -> int:
        """Where in the store the page ``token`` names starts."""
        raise NotImplementedError

    @abstractmethod
    def token_at(self, ids: list[str], end: int) -> str:
        """The token of the page starting at ``end``."""
        raise NotImplementedError

    @abstractmethod
    def cancel_answer(self, job: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    @abstractmethod
    def error(self, status: int, message: str, retry_delay: Any = None) -> dict[str, Any]:
        raise NotImplementedError

    @abstractmethod
    def with_fields(self, job: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """``job`` with the normalized fields (display_name, error_message, ...) in this platform's keys."""
        raise NotImplementedError


class OpenAISpeaker(Speaker):
    """``/v1/fine_tuning/jobs``, list paged with ``after=<last id>`` and ``has_more``."""

    platform = Platform.OPENAI
    running, cancelled, succeeded = "running", "cancelled", "succeeded"
    _JOB = re.compile(r"/v1/fine_tuning/jobs/([^/]+)(/cancel)?")

    def route(self, method: str, path: str) -> tuple[str, str | None] | None:
        if path == "/v1/fine_tuning/jobs" and method == "GET":
            return "list", None
        match = self._JOB.fullmatch(path)
        if match and method == ("POST" if match.group(2) else "GET"):
            return ("cancel" if match.group(2) else "get"), match.group(1)
        return None

    def new_id(self, n: int) -> str:
        return f"ftjob-hostile{n:06d}"

    def job(self, job_id: str, state: str | None = None, **fields: Any) -> dict[str, Any]:
        job = {
            "object": "fine_tuning.job",
            "id": job_id,
            "status": state or self.running,
            "model": "gpt-4o-mini-2024-07-18",
            "created_at": 1767225600,
            "finished_at": None,
            "fine_tuned_model": None,
            "error": None,
            "metadata": None,
            "training_file": "file-hostile",
            "hyperparameters": {"n_epochs": 3},
            "method": {"type": "supervised"},
        }
        return self.with_fields(job, **fields)

    def with_fields(self, job: dict[str, Any], **fields: Any) -> dict[str, Any]:
        keys = {
            "display_name": "user_provided_suffix",
            "base_model": "model",
            "tuned_model": "fine_tuned_model",
            "labels": "metadata",
        }
        job = dict(job)
        for name, value in fields.items():
            if name == "error_message":
                job["error"] = {"code": "hostile", "message": value, "param": None}
            elif name == "native_state":
                job["status"] = value
            else:
                job[keys.get(name, name)] = value
        return job

    def page(self, jobs: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
        return {"object": "list", "data": jobs, "has_more": token is not None}

    def page_request(self, request: Request) -> tuple[int, str | None]:
        return int(request.query.get("limit", "20")), request.query.get("after")

    def offset(self, token: str | None, ids: list[str]) -> int:
        return ids.index(token) + 1 if token in ids else 0

    def token_at(self, ids: list[str], end: int) -> str:
        return ids[end - 1]

    def cancel_answer(self, job: dict[str, Any]) -> dict[str, Any]:
        return job

    def error(self, status: int, message: str, retry_delay: Any = None) -> dict[str, Any]:
        code = "rate_limit_exceeded" if status == 429 else None
        return {"error": {"message": message, "type": "hostile_error", "param": None, "code": code}}


class VertexAISpeaker(Speaker):
    """``/v1/projects/{p}/locations/{l}/tuningJobs``, list paged with ``pageToken``."""

    platform = Platform.VERTEX_AI
    running, cancelled, succeeded = "JOB_STATE_RUNNING", "JOB_STATE_CANCELLED", "JOB_STATE_SUCCEEDED"
    _PATH = re.compile(r"/v1/projects/([^/]+)/locations/([^/]+)/tuningJobs(?:/([0-9]+)(:cancel)?)?")

    def route(self, method: str, path: str) -> tuple[str, str | None] | None:
        match = self._PATH.fullmatch(path)
        if not match:
            return None
        job_id, cancel = match.group(3), match.group(4)
        if job_id is None:
            return ("list", None) if method == "GET" else None
        if method == ("POST" if cancel else "GET"):
            return ("cancel" if cancel else "get"), job_id
        return None

    def new_id(self, n: int) -> str:
        return str(8_000_000_000_000_000_000 + n)

    def name(self, job_id: str, project: str = PROJECT) -> str:
        return f"projects/{project}/locations/{LOCATION}/tuningJobs/{job_id}"

    def job(self, job_id: str, state: str | None = None, **fields: Any) -> dict[str, Any]:
        job = {
            "name": self.name(job_id),
            "state": state or self.running,
            "createTime": "2026-01-01T00:00:00.000000Z",
            "startTime": "2026-01-01T00:01:00.000000Z",
            "updateTime": "2026-01-01T00:02:00.000000Z",
            "baseModel": "gemini-2.0-flash-001",
            "tunedModelDisplayName": "hostile-tuning",
            "supervisedTuningSpec": {"trainingDatasetUri": "gs://hostile/train.jsonl"},
        }
        return self.with_fields(job, **fields)

    def with_fields(self, job: dict[str, Any], **fields: Any) -> dict[str, Any]:
        keys = {"display_name": "tunedModelDisplayName", "base_model": "baseModel", "native_state": "state"}
        job = dict(job)
        for name, value in fields.items():
            if name == "error_message":
                job["error"] = {"code": 13, "message": value}
            elif name == "tuned_model":
                job["tunedModel"] = {"model": value}
            else:
                job[keys.get(name, name)] = value
        return job

    def page(self, jobs: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"tuningJobs": jobs}
        if token is not None:
            body["nextPageToken"] = token
        return body

    def page_request(self, request: Request) -> tuple[int, str | None]:
        return int(request.query.get("pageSize", "100")), request.query.get("pageToken")

    def offset(self, token: str | None, ids: list[str]) -> int:
        return int(token) if token and token.isdigit() else 0

    def token_at(self, ids: list[str], end: int) -> str:
        return str(end)

    def cancel_answer(self, job: dict[str, Any]) -> dict[str, Any]:
        return {}

    def error(self, status: int, message: str, retry_delay: Any = None) -> dict[str, Any]:
        names = {429: "RESOURCE_EXHAUSTED", 404: "NOT_FOUND", 503: "UNAVAILABLE", 500: "INTERNAL"}
        error: dict[str, Any] = {"code": status, "message": message, "status": names.get(status, "UNKNOWN")}
        if retry_delay is not None:
            error["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}]
        return {"error": error}


SPEAKERS: dict[Platform, type[Speaker]] = {Platform.OPENAI: OpenAISpeaker, Platform.VERTEX_AI: VertexAISpeaker}


# -- one request/answer exchange on a socket --------------------------------------------------
class Exchange:
    """The socket side of one answer: writes that respect the server's caps and stop."""

    def __init__(self, sock: socket.socket, request: Request, server: HostileServer) -> None:
        self.sock, self.request, self.server = sock, request, server
        self.speaker = server.speaker
        self.started = time.monotonic()
        self.sent = 0
        #: Answers that break HTTP framing (or never end) set this: the connection is closed after.
        self.keep_alive = True

    def _check(self) -> None:
        if self.server.stopping.is_set():
            raise Closed("server stopping")
        if time.monotonic() - self.started > self.server.cap_seconds:
            raise Closed(f"answer reached the {self.server.cap_seconds} s cap")
        if self.sent > self.server.cap_bytes:
            raise Closed(f"answer reached the {self.server.cap_bytes} byte cap")

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            self._check()
            try:
                n = self.sock.send(view[: 1 << 16])
            except TimeoutError:
                continue  # the client is not reading: check the caps, try again
            except OSError as exc:
                raise Closed(f"client gone: {exc}") from None
            self.sent += n
            view = view[n:]

    def pause(self, seconds: float) -> None:
        if self.server.stopping.wait(seconds):
            raise Closed("server stopping")
        self._check()

    def hold(self) -> None:
        """Keep the connection open, saying nothing more, until a cap or the stop."""
        self.keep_alive = False
        while True:
            self.pause(0.05)


Answer = Callable[[Exchange], None]


def head(status: int, headers: Iterable[tuple[str, str]] = (), reason: str | None = None) -> bytes:
    """A status line and header section, exactly as given (duplicates and lies included)."""
    phrase = reason if reason is not None else _phrase(status)
    lines = [f"HTTP/1.1 {status} {phrase}", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def encode(body: Any) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


# -- answers ------------------------------------------------------------------------------------
def reply(
    status: int = 200,
    body: Any = b"",
    headers: Iterable[tuple[str, str]] = (),
    content_type: str | None = "application/json; charset=UTF-8",
) -> Answer:
    """A well-framed answer: ``body`` (bytes or JSON) with its true Content-Length."""

    def answer(ex: Exchange) -> None:
        data = encode(body)
        fields = [("Content-Type", content_type)] if content_type and data else []
        ex.send(head(status, [*fields, *headers, ("Content-Length", str(len(data)))]) + data)

    return answer


def platform_answer() -> Answer:
    """What the platform would answer (the server's job store); for scripts "then good"."""
    return lambda ex: ex.server.answer_normally(ex)


def job_answer(
    status: int = 200, headers: Iterable[tuple[str, str]] = (), job_id: str | None = None, **fields: Any
) -> Answer:
    """A job-shaped body about the requested job (or ``job_id``), with ``fields`` set."""

    def answer(ex: Exchange) -> None:
        wanted = job_id or ex.request.job_id or ex.speaker.new_id(0)
        reply(status, ex.server.job_body(wanted, **fields), headers)(ex)

    return answer


def redirect(status: int, location: str, **fields: Any) -> Answer:
    """A 3xx pointing elsewhere, carrying a job-shaped body (with ``fields``) a careless client would parse."""
    return job_answer(status, [("Location", location)], **fields)


def no_content(status: int = 204) -> Answer:
    return reply(status, b"", content_type=None)


def error_answer(status: int, headers: Iterable[tuple[str, str]] = (), retry_delay: Any = None) -> Answer:
    """The platform's error body for ``status`` (Vertex AI: with ``RetryInfo.retryDelay`` if given)."""

    def answer(ex: Exchange) -> None:
        body = ex.speaker.error(status, f"hostile {status}", retry_delay=retry_delay)
        reply(status, body, headers)(ex)

    return answer


def trickle(every: float, *, headers_too: bool = False) -> Answer:
    """The normal answer, written one byte every ``every`` seconds (the head too, or not)."""

    def answer(ex: Exchange) -> None:
        status, body = ex.server.normal_body(ex.request)
        data = encode(body)
        framed_head = head(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        ex.keep_alive = False
        if not headers_too:
            ex.send(framed_head)
        for byte in (framed_head if headers_too else b"") + data:
            ex.send(bytes([byte]))
            ex.pause(every)

    return answer


def endless_body(every: float = 0.0, chunk: int = 1 << 16) -> Answer:
    """A 200 whose chunked body starts like a job and never ends (fast, or a chunk per ``every`` s)."""

    def answer(ex: Exchange) -> None:
        ex.keep_alive = False
        ex.send(head(200, [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]))
        opening = b'{"id": "' + (ex.request.job_id or "x").encode() + b'", "padding": "'
        ex.send(b"%x\r\n%s\r\n" % (len(opening), opening))
        filler = b"%x\r\n%s\r\n" % (chunk, b"a" * chunk)
        while True:
            ex.send(filler)
            if every:
                ex.pause(every)

    return answer


def stalled_body(declared: int | None = None) -> Answer:
    """Headers promising a body (``declared`` bytes, default the job's size); half of it, then silence."""

    def answer(ex: Exchange) -> None:
        status, body = ex.server.normal_body(ex.request)
        data = encode(body)
        length = declared if declared is not None else len(data)
        ex.send(head(status, [("Content-Type", "application/json"), ("Content-Length", str(length))]))
        ex.send(data[: len(data) // 2])
        ex.hold()

    return answer


def delayed(seconds: float, then: Answer) -> Answer:
    """``then``, after ``seconds`` of silence (a slow platform, not a broken one)."""

    def answer(ex: Exchange) -> None:
        ex.pause(seconds)
        then(ex)

    return answer


def hang() -> Answer:
    """Read the request, never answer."""
    return lambda ex: ex.hold()


def huge_body(size: int, *, chunked: bool = False) -> Answer:
    """A valid job JSON padded to ``size`` bytes, sent as fast as the client reads."""

    def answer(ex: Exchange) -> None:
        job = ex.server.job_body(ex.request.job_id or ex.speaker.new_id(0))
        prefix = json.dumps(job)[:-1].encode() + b', "padding": "'
        pad = max(0, size - len(prefix) - 2)
        headers = [("Content-Type", "application/json")]
        headers.append(("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(len(prefix) + pad + 2)))
        ex.keep_alive = False
        ex.send(head(200, headers))
        for piece in _pieces(prefix, pad, b'"}'):
            ex.send(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        if chunked:
            ex.send(b"0\r\n\r\n")

    return answer


def _pieces(prefix: bytes, pad: int, suffix: bytes, size: int = 1 << 20) -> Iterator[bytes]:
    yield prefix
    block = b"a" * size
    while pad > 0:
        yield block[: min(size, pad)]
        pad -= size
    yield suffix


def encoded(body: bytes, encoding: str, headers: Iterable[tuple[str, str]] = ()) -> Answer:
    """``body`` sent as is with ``Content-Encoding: encoding`` (bombs, broken or unknown encodings)."""
    return reply(200, body, [("Content-Encoding", encoding), *headers])


def encoded_job(encoding: str, compress: Callable[[bytes], bytes] = lambda data: data) -> Answer:
    """The normal job answer, passed through ``compress`` and labelled ``Content-Encoding: encoding``."""

    def answer(ex: Exchange) -> None:
        status, body = ex.server.normal_body(ex.request)
        reply(status, compress(encode(body)), [("Content-Encoding", encoding)])(ex)

    return answer


def html_page(status: int = 200) -> Answer:
    """A proxy's login or error page where JSON was expected."""
    page = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body><form>proxy</form></body></html>"
    return reply(status, page, content_type="text/html; charset=utf-8")


def truncated_json() -> Answer:
    """Half of the normal JSON body, correctly framed: valid HTTP, broken JSON."""

    def answer(ex: Exchange) -> None:
        status, body = ex.server.normal_body(ex.request)
        data = encode(body)
        reply(status, data[: len(data) // 2])(ex)

    return answer


def page_of(jobs: int, token: str | None, *, fresh: bool = True) -> Answer:
    """A list page of ``jobs`` jobs and ``token`` as its next-page token (Vertex AI) or ``has_more``.

    ``fresh``: new job ids on every page (OpenAI's token is the last id: fresh ids, fresh
    tokens); otherwise the same ids every time (OpenAI: the same ``after`` again).
    """

    def answer(ex: Exchange) -> None:
        first = ex.server.counter(jobs) if fresh else 0
        listed = [ex.server.job_body(ex.speaker.new_id(first + i)) for i in range(jobs)]
        reply(200, ex.speaker.page(listed, token))(ex)

    return answer


def endless_pages(jobs: int = 2, stop_after: int = 300) -> Answer:
    """Pages with fresh ids and a fresh token forever; the last page comes after ``stop_after``
    pages only so that a client without a page limit ends (and the test can say so)."""

    def answer(ex: Exchange) -> None:
        more = ex.server.count("list") < stop_after
        page_of(jobs, f"page-{ex.server.counter(1)}" if more else None)(ex)

    return answer


# -- payloads -----------------------------------------------------------------------------------
def deflate_of_zeros(megabytes: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``megabytes`` MiB of zeros, built without compressing them all.

    Each MiB is compressed once and flushed with Z_FULL_FLUSH, which byte-aligns the output
    and resets the compressor, so the same bytes can be repeated as valid stream; returns the
    stream and the CRC-32 of what it expands to.
    """
    mib = bytes(1 << 20)
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = block.compress(mib) + block.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    crc = 0
    for _ in range(megabytes):
        crc = zlib.crc32(mib, crc)
    return piece * megabytes + final, crc


@functools.cache
def gzip_bomb(megabytes: int, layers: int = 2) -> bytes:
    """Gzip of ``megabytes`` MiB of zeros, gzipped again ``layers - 1`` times (``Content-Encoding: gzip, gzip``).

    Two layers of 2 GiB weigh about 5 KB.
    """
    stream, crc = deflate_of_zeros(megabytes)
    size = (megabytes << 20) & 0xFFFFFFFF
    data = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + stream + crc.to_bytes(4, "little") + size.to_bytes(4, "little")
    for _ in range(layers - 1):
        data = gzip.compress(data, 9)
    return data


# -- the server ---------------------------------------------------------------------------------
@dataclass
class _Rule:
    answer: Answer
    on: str | None
    remaining: float  # float("inf"): always
    until: float = float("inf")  # time.monotonic() after which the rule no longer applies


@dataclass
class HostileServer:
    """One platform on 127.0.0.1, scriptable per request; use as a context manager or start()/stop()."""

    platform: Platform
    #: No answer runs longer than this, or writes more than ``cap_bytes``.
    cap_seconds: float = 15.0
    cap_bytes: int = 64 << 20
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.speaker: Any = self.make_speaker()
        self.jobs: dict[str, dict[str, Any]] = {}
        self.stopping = threading.Event()
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._sockets: set[socket.socket] = set()
        #: Most connections open at once so far.
        self.peak_connections = 0
        self._tcp: socketserver.ThreadingTCPServer | None = None

    def make_speaker(self) -> Any:
        return SPEAKERS[Platform(self.platform)]()

    # -- scripting ------------------------------------------------------------------------
    def then(self, answer: Answer, *, on: str | None = None, count: int = 1) -> HostileServer:
        """Answer the next ``count`` requests (of operation ``on``, if given) with ``answer``."""
        with self._lock:
            self._rules.append(_Rule(answer, on, count))
        return self

    def always(self, answer: Answer, *, on: str | None = None, for_seconds: float | None = None) -> HostileServer:
        """Answer every later request (of operation ``on``) with ``answer``, after earlier rules.

        ``for_seconds``: only for that long from now, then normally again. A DAG run whose
        task ignores its deadline then ends late (and the test says how late) instead of never.
        """
        until = float("inf") if for_seconds is None else time.monotonic() + for_seconds
        with self._lock:
            self._rules.append(_Rule(answer, on, float("inf"), until))
        return self

    def add_job(self, state: str | None = None, **fields: Any) -> str:
        """A job in the store; returns the id to pass to the hook."""
        job_id = self.speaker.new_id(self.counter(1) + 500_000)
        self.jobs[job_id] = self.speaker.job(job_id, state, **fields)
        return job_id

    def counter(self, n: int) -> int:
        """``n`` fresh numbers (for ids and tokens); returns the first."""
        with self._lock:
            first = next(self._ids)
            for _ in range(n - 1):
                next(self._ids)
        return first

    # -- what was asked -------------------------------------------------------------------
    def count(self, operation: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if operation is None or r.operation == operation)

    def of(self, operation: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.operation == operation]

    @property
    def port(self) -> int:
        assert self._tcp is not None, "start() the server first"
        return self._tcp.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What the connection's host is set to."""
        return f"{self.url}/v1" if self.speaker.platform is Platform.OPENAI else self.url

    # -- normal answers ---------------------------------------------------------------------
    def job_body(self, job_id: str, **fields: Any) -> dict[str, Any]:
        job = self.jobs.get(job_id) or self.speaker.job(job_id)
        return self.speaker.with_fields(job, **fields) if fields else job

    def normal_body(self, request: Request) -> tuple[int, Any]:
        """(status, JSON body) the platform would answer, updating the store on cancel."""
        speaker = self.speaker
        if request.operation == "list":
            size, token = speaker.page_request(request)
            ids = list(self.jobs)
            start = speaker.offset(token, ids)
            end = min(start + size, len(ids))
            next_token = speaker.token_at(ids, end) if end < len(ids) else None
            return 200, speaker.page([self.jobs[i] for i in ids[start:end]], next_token)
        if request.job_id is None or request.job_id not in self.jobs:
            return 404, speaker.error(404, f"job {request.job_id} not found")
        if request.operation == "cancel":
            job = self.jobs[request.job_id] = speaker.with_fields(
                self.jobs[request.job_id], native_state=speaker.cancelled
            )
            return 200, speaker.cancel_answer(job)
        return 200, self.jobs[request.job_id]

    def answer_normally(self, ex: Exchange) -> None:
        status, body = self.normal_body(ex.request)
        reply(status, body)(ex)

    # -- serving ----------------------------------------------------------------------------
    def _choose(self, request: Request) -> Answer:
        with self._lock:
            for rule in self._rules:
                if rule.remaining > 0 and rule.on in (None, request.operation) and request.at < rule.until:
                    rule.remaining -= 1
                    return rule.answer
        return platform_answer()

    def _serve(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(0.5)
        with self._lock:
            self._sockets.add(sock)
            self.peak_connections = max(self.peak_connections, len(self._sockets))
        reader = _Reader(sock, self.stopping)
        try:
            while (request := reader.request(self.speaker)) is not None:
                with self._lock:
                    self.requests.append(request)
                ex = Exchange(sock, request, self)
                self._choose(request)(ex)  # Closed (a cap, the client gone) ends the connection
                if not ex.keep_alive or request.headers.get("connection", "").lower() == "close":
                    break
        except (Closed, OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._sockets.discard(sock)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def start(self) -> HostileServer:
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                server._serve(self.request)

        class TCPServer(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._tcp = TCPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._tcp.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._tcp is not None:
            self._tcp.shutdown()
            self._tcp.server_close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Reader:
    """Reads HTTP/1.1 requests off a socket (Content-Length bodies; enough for httpx)."""

    def __init__(self, sock: socket.socket, stopping: threading.Event) -> None:
        self.sock, self.stopping, self.buffer = sock, stopping, b""

    def _more(self) -> bool:
        while not self.stopping.is_set():
            try:
                data = self.sock.recv(1 << 16)
            except TimeoutError:
                continue
            if not data:
                return False
            self.buffer += data
            return True
        return False

    def request(self, speaker: Speaker) -> Request | None:
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > MAX_HEAD or not self._more():
                return None
        raw, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        line, *lines = raw.decode("latin-1").split("\r\n")
        method, target, _version = line.split(" ", 2)
        headers = {}
        for header in lines:
            name, _, value = header.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            if not self._more():
                return None
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        parts = urlsplit(target)
        amz_target = headers.get("x-amz-target")
        routed = json_1_1_route(amz_target) if amz_target else speaker.route(method, parts.path)
        operation, job_id = routed if routed else (None, None)
        return Request(
            method=method,
            target=target,
            path=parts.path,
            query=dict(parse_qsl(parts.query)),
            headers=headers,
            body=body,
            at=time.monotonic(),
            operation=operation,
            job_id=job_id,
        )


# -- any platform: a hostile front of the emulator ----------------------------------------------
#: Paths of the platforms' job collections (their listings); a GET below one reads a job.
_COLLECTIONS = ("/jobs", "/fine-tunes", "/tuningJobs", "/model-customization-jobs", "/tunedModels", "/fine_tunings")
#: How a POST cancels; a DELETE of a job cancels it too (watsonx.ai).
_CANCELS = ("/cancel", ":cancel", "/stop")
#: Hop-by-hop and framing headers: the front frames its own answers.
_NOT_RELAYED = {"connection", "content-length", "transfer-encoding", "content-encoding", "keep-alive"}


def json_1_1_route(target: str) -> tuple[str, str | None]:
    """The operation of an AWS JSON 1.1 request (every one a ``POST /``), from its ``X-Amz-Target``."""
    operation = target.rpartition(".")[2]
    return ("cancel" if operation.startswith("Stop") else "list" if operation.startswith("List") else "get"), None


class FrontRouter:
    """Which operation a request to the emulator's platforms is (the front needs no job store)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def route(self, method: str, path: str) -> tuple[str, str | None] | None:
        if (method == "POST" and path.endswith(_CANCELS)) or method == "DELETE":
            return "cancel", None
        if method == "GET":
            return ("list", None) if path.endswith(_COLLECTIONS) else ("get", None)
        return None


@dataclass
class FrontServer(HostileServer):
    """Any platform, hostile where scripted: answers normally by forwarding to the emulator at
    ``upstream`` (the real platform behaviour: auth, states, cancels), on a raw socket of its own."""

    upstream: str = ""

    def make_speaker(self) -> Any:
        return FrontRouter(Platform(self.platform))

    def forward(self, request: Request) -> tuple[int, list[tuple[str, str]], bytes]:
        import httpx

        headers = [(k, v) for k, v in request.headers.items() if k not in _NOT_RELAYED and k != "accept-encoding"]
        with httpx.Client(timeout=10) as client:
            answer = client.request(
                request.method, self.upstream + request.target, headers=headers, content=request.body
            )
        kept = [(k, v) for k, v in answer.headers.items() if k.lower() not in _NOT_RELAYED]
        return answer.status_code, kept, answer.content

    def answer_normally(self, ex: Exchange) -> None:
        status, headers, body = self.forward(ex.request)
        reply(status, body, headers, content_type=None)(ex)


def forwarded_then(status: int, body: bytes, content_type: str = "text/html") -> Answer:
    """Forward the request (its effect happens upstream), then answer ``status`` with ``body``."""

    def answer(ex: Exchange) -> None:
        assert isinstance(ex.server, FrontServer)
        ex.server.forward(ex.request)
        reply(status, body, content_type=content_type)(ex)

    return answer


def echo_headers(status: int) -> Answer:
    """An error whose text repeats the request's headers (credentials included), in a body every
    platform's error reader takes its message from: a debugging proxy or a careless server."""

    def answer(ex: Exchange) -> None:
        seen = "; ".join(f"{name}: {value}" for name, value in ex.request.headers.items())
        message = f"Request rejected. You sent {seen}"
        body = {
            "error": {"message": message, "type": "echo", "code": "echo", "status": "INTERNAL"},
            "code": "EchoError",
            "message": message,
            "request_id": "echo-1",
        }
        reply(status, body)(ex)

    return answer


# -- credential endpoints (Google's token endpoint, AWS STS) -------------------------------------
def google_token(expires_in: int = 3600, token: str | None = None) -> Answer:
    """Google's token endpoint granting an access token (a fresh one per request unless ``token``)."""

    def answer(ex: Exchange) -> None:
        granted = token or f"ya29.hostile-{ex.server.counter(1):06d}"
        reply(200, {"access_token": granted, "expires_in": expires_in, "token_type": "Bearer"})(ex)

    return answer


def sts_assumed_role(expires_in: int = 3600) -> Answer:
    """AWS STS answering AssumeRole with temporary credentials that expire in ``expires_in`` s."""

    def answer(ex: Exchange) -> None:
        n = ex.server.counter(1)
        expiration = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + expires_in))
        xml = (
            '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>'
            f"<Credentials><AccessKeyId>ASIAHOSTILE{n:09d}</AccessKeyId>"
            f"<SecretAccessKey>hostile-secret-{n}</SecretAccessKey><SessionToken>hostile-token-{n}</SessionToken>"
            f"<Expiration>{expiration}</Expiration></Credentials>"
            "<AssumedRoleUser><AssumedRoleId>AROAHOSTILE:s</AssumedRoleId>"
            "<Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn></AssumedRoleUser></AssumeRoleResult>"
            "<ResponseMetadata><RequestId>hostile</RequestId></ResponseMetadata></AssumeRoleResponse>"
        )
        reply(200, xml.encode(), content_type="text/xml")(ex)

    return answer
