"""How long a large project takes: seeding it, and listing all of it over HTTP, per platform.

Run: ``PYTHONPATH=$PWD python -m tests.emulators.large_project`` (10,000 running plus 20,000
older ended jobs in one project, the default), or with ``--running N --ended M``. It prints
figures and asserts nothing about time; ``test_large_projects`` runs it small for correctness.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx

from airflow_ft_provider.jobs import Platform
from airflow_ft_provider.testing import Emulator, JobScript

PROJECT, LOCATION = "big-project", "us-central1"
PAGE = 100


@dataclass
class Walk:
    """One complete listing: the ids in the order served and each request's duration."""

    ids: list[str]
    seconds: list[float]

    def summary(self) -> str:
        total, n = sum(self.seconds), len(self.seconds)
        return (
            f"{len(self.ids):>6} jobs in {n:>4} requests, {total:6.2f} s "
            f"({1000 * total / n:5.1f} ms a request; first {1000 * self.seconds[0]:5.1f} ms, "
            f"last {1000 * self.seconds[-1]:5.1f} ms)"
        )


def seed_project(emu: Emulator, platform: Platform, running: int, ended: int) -> tuple[list[str], float]:
    """``ended`` jobs created over the past day that ran an hour, then ``running`` newer ones."""
    start = time.perf_counter()
    old = emu.seed_many(
        platform,
        ended,
        display_name="old",
        script=JobScript(running_s=3600),
        created_ago_s=3 * 3600,
        created_over_s=86_400,
        project=PROJECT,
        location=LOCATION,
    )
    new = emu.seed_many(
        platform,
        running,
        display_name="live",
        script=JobScript(running_s=None),
        created_ago_s=60,
        created_over_s=3 * 3600 - 120,
        project=PROJECT,
        location=LOCATION,
    )
    return old + new, time.perf_counter() - start


def _timed(client: httpx.Client, path: str, params: dict[str, str | int], seconds: list[float]) -> httpx.Response:
    start = time.perf_counter()
    response = client.get(path, params=params)
    seconds.append(time.perf_counter() - start)
    response.raise_for_status()
    return response


def _vertex(client: httpx.Client, extra: dict[str, str], seconds: list[float]) -> Iterator[str]:
    path = f"/v1/projects/{PROJECT}/locations/{LOCATION}/tuningJobs"
    token: str | None = None
    while True:
        params: dict[str, str | int] = {"pageSize": PAGE, **extra, **({"pageToken": token} if token else {})}
        body = _timed(client, path, params, seconds).json()
        yield from (j["name"] for j in body.get("tuningJobs", []))
        token = body.get("nextPageToken")
        if not token:
            return


def _openai(client: httpx.Client, _extra: dict[str, str], seconds: list[float]) -> Iterator[str]:
    after: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": PAGE, **({"after": after} if after else {})}
        body = _timed(client, "/fine_tuning/jobs", params, seconds).json()
        yield from (j["id"] for j in body["data"])
        if not body["has_more"]:
            return
        after = body["data"][-1]["id"]


def _dashscope(client: httpx.Client, _extra: dict[str, str], seconds: list[float]) -> Iterator[str]:
    page_no = 1
    while True:
        params: dict[str, str | int] = {"page_no": page_no, "page_size": PAGE}
        body = _timed(client, "/fine-tunes", params, seconds).json()["output"]
        yield from (j["job_id"] for j in body["jobs"])
        if page_no * PAGE >= body["total"]:
            return
        page_no += 1


WALKERS: dict[Platform, Callable[[httpx.Client, dict[str, str], list[float]], Iterator[str]]] = {
    Platform.VERTEX_AI: _vertex,
    Platform.OPENAI: _openai,
    Platform.DASHSCOPE: _dashscope,
}


def walk(emu: Emulator, platform: Platform, **extra: str) -> Walk:
    """List every job of ``platform`` page by page, as a client would."""
    key = emu.api_key(platform)
    seconds: list[float] = []
    with httpx.Client(base_url=emu.base_url(platform), headers={"Authorization": f"Bearer {key}"}) as client:
        ids = list(WALKERS[platform](client, extra, seconds))
    return Walk(ids, seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Seed a large project, then list all of it, per platform.")
    parser.add_argument("--running", type=int, default=10_000)
    parser.add_argument("--ended", type=int, default=20_000)
    args = parser.parse_args(argv)
    with Emulator() as emu:
        for platform in WALKERS:
            seeded, seconds = seed_project(emu, platform, args.running, args.ended)
            print(f"{platform.value:<10} seed {len(seeded)} jobs: {seconds:5.2f} s")
            listing = walk(emu, platform)
            assert listing.ids == seeded[::-1], "the listing is not every job once, newest first"
            print(f"{platform.value:<10} list all      {listing.summary()}")
            if platform is Platform.VERTEX_AI:
                running = walk(emu, platform, filter='state="JOB_STATE_RUNNING"')
                assert len(running.ids) == args.running
                print(f"{platform.value:<10} list running  {running.summary()}")
            emu.reset()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
