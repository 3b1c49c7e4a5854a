"""Import cost: what a DAG file pays at every parse for importing the provider.

Fresh Python processes, interleaved (baseline, provider, baseline, ...) so that load on a
shared machine hits both alike:

- **baseline**: ``import airflow.sdk`` only, what every DAG file does anyway;
- **provider**: ``import airflow.sdk`` and then the operators, the sensor, the trigger and
  the notifier (``--modules`` changes the list);
- **google** (optional, ``--google-python``): ``import airflow.sdk`` and the Google provider's
  ``GenAISupervisedFineTuningTrainOperator``, in a separate virtualenv that has it (same
  Airflow version); compared by its increment over ``airflow.sdk`` in its own processes.

Each child reports its own import wall time, CPU time and peak RSS (``ru_maxrss``); the
parent adds the whole process's wall time. The verdict uses the median of the increment
measured *inside* each provider process (time and RSS after ``airflow.sdk`` minus before):
it is the same quantity as "provider process minus baseline process" without the
process-to-process noise, which on a loaded machine is larger than the 50 ms budget.
Both are printed. One more provider run under ``python -X importtime`` says which imports
the increment is made of.

Run alone: ``python -m benchmarks.import_cost [--quick] [--runs N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.common import ROOT, Row, fmt_ratio, median, prepare_env, print_rows, verdict

PROVIDER_MODULES = (
    "airflow_ft_provider.operators.cancel",
    "airflow_ft_provider.operators.bulk_cancel",
    "airflow_ft_provider.sensors.job_state",
    "airflow_ft_provider.triggers.job_state",
    "airflow_ft_provider.notifications.cancel_job",
)
#: Where the Google provider keeps the operator, newest location first.
GOOGLE_OPERATOR = (
    "airflow.providers.google.cloud.operators.gen_ai:GenAISupervisedFineTuningTrainOperator",
    "airflow.providers.google.cloud.operators.vertex_ai.generative_model:GenAISupervisedFineTuningTrainOperator",
)
TARGET_MS = 50.0
TARGET_MB = 5.0

CHILD = r"""
import json, resource, sys, time

def maxrss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

t0, c0 = time.perf_counter(), cpu()
import airflow.sdk
t1, c1, m1 = time.perf_counter(), cpu(), maxrss()
loaded = None
for spec in sys.argv[1:]:
    # "a|b": the first that imports; "module:attr" is "from module import attr". Import
    # statements rather than importlib, so that -X importtime shows these modules too.
    for option in spec.split("|"):
        module, _, attr = option.partition(":")
        try:
            exec(f"from {module} import {attr}" if attr else f"import {module}")
        except ImportError:
            continue
        loaded = option
        break
    else:
        raise ImportError(f"none of {spec} could be imported")
t2, c2, m2 = time.perf_counter(), cpu(), maxrss()
print(json.dumps({"sdk_s": t1 - t0, "extra_s": t2 - t1, "sdk_cpu": c1 - c0, "extra_cpu": c2 - c1,
                  "rss_sdk": m1, "rss": m2, "loaded": loaded}))
"""


@dataclass
class Variant:
    name: str
    python: str
    modules: Sequence[str]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a DAG processor has its bytecode cached
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return env


def run_child(variant: Variant, importtime: bool = False) -> dict[str, Any]:
    args = [variant.python, *(["-X", "importtime"] if importtime else []), "-c", CHILD, *variant.modules]
    started = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=child_env(), cwd=ROOT, timeout=300, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{variant.name} import failed:\n{proc.stderr[-2000:]}")
    result = dict(json.loads(proc.stdout.strip().splitlines()[-1]))
    result["process_s"] = wall
    if importtime:
        result["importtime"] = proc.stderr
    return result


def measure(variants: Sequence[Variant], runs: int) -> dict[str, list[dict[str, Any]]]:
    """``runs`` fresh processes per variant, interleaved, after one unmeasured warm-up each."""
    for variant in variants:
        run_child(variant)  # writes bytecode caches, warms the page cache
    results: dict[str, list[dict[str, Any]]] = {v.name: [] for v in variants}
    for _ in range(runs):
        for variant in variants:
            results[variant.name].append(run_child(variant))
    return results


def importtime_breakdown(
    stderr: str, requested: Sequence[str], top: int = 8
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """From ``-X importtime`` output: the requested modules' cumulative times and the
    costliest modules (self time) loaded after ``airflow.sdk``, both in ms."""
    lines = [line for line in stderr.splitlines() if line.startswith("import time:")]
    start = next((i for i, line in enumerate(lines) if line.rstrip().endswith("| airflow.sdk")), -1)
    direct: list[tuple[str, float]] = []
    costly: list[tuple[str, float]] = []
    for line in lines[start + 1 :]:
        self_us, cumulative_us, name = line[len("import time:") :].split("|", 2)
        try:
            self_ms, cumulative_ms = int(self_us) / 1000, int(cumulative_us) / 1000
        except ValueError:  # the header line
            continue
        module = name.strip()
        if module in requested and not name[1:].startswith(" "):
            direct.append((module, cumulative_ms))
        costly.append((module, self_ms))
    costly.sort(key=lambda item: item[1], reverse=True)
    return direct, costly[:top]


def run(quick: bool = False, runs: int | None = None, google_python: str | None = None) -> tuple[list[Row], list[str]]:
    runs = runs or (1 if quick else 5)
    variants = [
        Variant("baseline", sys.executable, []),
        Variant("provider", sys.executable, list(PROVIDER_MODULES)),
    ]
    if google_python:
        # Its increment is measured inside its own processes, like the provider's.
        variants.append(Variant("google", google_python, ["|".join(GOOGLE_OPERATOR)]))
    profile = run_child(variants[1], importtime=True)
    direct, costly = importtime_breakdown(profile["importtime"], PROVIDER_MODULES)
    if quick:  # one process: checks that the benchmark works, measures nothing
        results = {"provider": [profile], "baseline": [{**profile, "extra_s": 0.0, "extra_cpu": 0.0}]}
        results["baseline"][0]["rss"] = profile["rss_sdk"]
    else:
        results = measure(variants, runs)

    def med(name: str, key: str) -> float:
        return median([r[key] for r in results[name]])

    def increment(name: str, key: str) -> float:
        if key == "rss":
            return median([r["rss"] - r["rss_sdk"] for r in results[name]])
        return median([r[key] for r in results[name]])

    rows: list[Row] = []
    n = f"median of {runs}"
    base_t = med("baseline", "sdk_s") + med("baseline", "extra_s")
    prov_t = median([r["sdk_s"] + r["extra_s"] for r in results["provider"]])
    inc_t = increment("provider", "extra_s")
    rows.append(
        Row(
            "1 import cost",
            f"import wall time, fresh process ({n})",
            f"airflow.sdk only {base_t * 1000:.0f} ms",
            f"+ provider {prov_t * 1000:.0f} ms (in-process +{inc_t * 1000:.0f} ms)",
            f"+{inc_t * 1000:.0f} ms, {fmt_ratio(prov_t / base_t)}",
            f"≤ +{TARGET_MS:g} ms",
            "" if quick else verdict(inc_t * 1000 <= TARGET_MS),
            {
                "baseline_s": base_t,
                "provider_s": prov_t,
                "increment_s": inc_t,
                "process_baseline_s": med("baseline", "process_s"),
                "process_provider_s": med("provider", "process_s"),
                "runs": results,
            },
        )
    )
    inc_cpu = increment("provider", "extra_cpu")
    base_cpu = med("baseline", "sdk_cpu")
    rows.append(
        Row(
            "1 import cost",
            f"import CPU time ({n})",
            f"airflow.sdk only {base_cpu * 1000:.0f} ms",
            f"+{inc_cpu * 1000:.0f} ms",
            f"+{inc_cpu * 1000:.0f} ms, {fmt_ratio((base_cpu + inc_cpu) / base_cpu)}",
            f"≤ +{TARGET_MS:g} ms",
            "" if quick else verdict(inc_cpu * 1000 <= TARGET_MS),
            {"baseline_cpu_s": base_cpu, "increment_cpu_s": inc_cpu},
        )
    )
    base_rss = med("baseline", "rss")
    prov_rss = med("provider", "rss")
    inc_rss = increment("provider", "rss")
    mb = 1024 * 1024
    rows.append(
        Row(
            "1 import cost",
            f"peak RSS, fresh process ({n})",
            f"airflow.sdk only {base_rss / mb:.1f} MB",
            f"{prov_rss / mb:.1f} MB (in-process +{inc_rss / mb:.1f} MB)",
            f"+{(prov_rss - base_rss) / mb:.1f} MB, {fmt_ratio(prov_rss / base_rss)}",
            f"≤ +{TARGET_MB:g} MB",
            "" if quick else verdict(max(inc_rss, prov_rss - base_rss) / mb <= TARGET_MB),
            {"baseline_rss": base_rss, "provider_rss": prov_rss, "increment_rss": inc_rss},
        )
    )
    if google_python:
        g_t, g_rss = increment("google", "extra_s"), increment("google", "rss")
        o_t, o_rss = inc_t, inc_rss
        loaded = results["google"][0].get("loaded", "")
        rows.append(
            Row(
                "1 import cost",
                f"increment over airflow.sdk vs the Google provider's operator ({n})",
                f"{loaded.rsplit(':', 1)[-1]} +{g_t * 1000:.0f} ms, +{g_rss / mb:.1f} MB",
                f"+{o_t * 1000:.0f} ms, +{o_rss / mb:.1f} MB",
                fmt_ratio(g_t / o_t if o_t > 0 else float("nan"), "less time"),
                "",
                "",
                {"google_increment_s": g_t, "google_increment_rss": g_rss, "module": loaded},
            )
        )
    notes = [
        "importtime (one run, ms cumulative): " + ", ".join(f"{name} {ms:.1f}" for name, ms in direct),
        "costliest modules loaded after airflow.sdk (ms self): " + ", ".join(f"{n} {ms:.1f}" for n, ms in costly),
        f"whole-process wall medians: baseline {med('baseline', 'process_s') * 1000:.0f} ms, "
        f"provider {med('provider', 'process_s') * 1000:.0f} ms (interpreter start and exit included)",
    ]
    return rows, notes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one run each: checks that it works")
    parser.add_argument("--runs", type=int, default=None, help="processes per variant (default 5)")
    parser.add_argument("--google-python", default=None, help="python of a virtualenv with the Google provider")
    args = parser.parse_args(argv)
    prepare_env()
    rows, notes = run(args.quick, args.runs, args.google_python)
    print_rows("Import cost", rows, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
