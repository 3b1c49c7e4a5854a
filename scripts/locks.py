"""The lock files every environment of this repository installs from (``locks/``).

One file per Apache Airflow version and Python, in the form of Airflow's own constraints files
(``name==version`` lines, usable with ``pip install -c``), made by ``uv pip compile`` from
``pyproject.toml`` (the provider's dependencies, every extra and every dependency group) with an
``--exclude-newer`` date, so that making them again at the same date gives the same files and a
fresh clone installs exactly what was tested. A lock "set" adds a few requirements of its own for
an environment that cannot share the main resolution (``bench-google``: the Google provider pins
protobuf and fsspec differently; ``sdk-watsonx``: IBM's SDK pins httpx below the tested release).

Each file's header records the date and a digest of the inputs; ``install-args`` refuses a lock
whose inputs changed since it was made (a dependency added to ``pyproject.toml`` and not locked
would otherwise resolve to whatever the package index serves that day).

    python scripts/locks.py compile --uv UV --date DATE --out DIR --airflow 3.3.2:3.11,3.12[:SET] ...
    python scripts/locks.py install-args --airflow 3.3.2 --python 3.11 [--set NAME] [--dir DIR] [--build]
    python scripts/locks.py date [--dir DIR]
    python scripts/locks.py diff DIR_A DIR_B
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ROOT / "locks"

#: Requirements a lock set adds to the main ones (none for the main set).
SETS: dict[str, list[str]] = {
    "": [],
    "bench-google": ["apache-airflow-providers-google"],
    # IBM's SDK pins httpx<0.29 and jmespath 1.0.1: its fidelity test runs in an environment of its own.
    "sdk-watsonx": ["ibm-watsonx-ai>=1.3"],
}

#: Extras of the provider every lock covers (pyproject's optional dependencies).
EXTRAS = ("google", "amazon", "azure")

DATE_LINE = "# exclude-newer: "
DIGEST_LINE = "# inputs-sha256: "
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def lock_path(airflow: str, python: str, lock_set: str = "", directory: Path = LOCKS) -> Path:
    suffix = f"-{lock_set}" if lock_set else ""
    return directory / f"airflow-{airflow}-python-{python}{suffix}.txt"


def inputs_digest(airflow: str, python: str, lock_set: str) -> str:
    """What a lock was made from: the dependency tables of pyproject.toml and the lock's own key."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    inputs = {
        "airflow": airflow,
        "python": python,
        "set": SETS[lock_set],
        "extras": EXTRAS,
        "requires-python": project["project"].get("requires-python"),
        "dependencies": project["project"].get("dependencies", []),
        "optional-dependencies": project["project"].get("optional-dependencies", {}),
        "dependency-groups": project.get("dependency-groups", {}),
        "build-system": project.get("build-system", {}).get("requires", []),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def header_value(path: Path, prefix: str) -> str:
    for line in path.read_text().splitlines():
        if line.startswith(prefix):
            return line.removeprefix(prefix).strip()
        if not line.startswith("#"):
            break
    sys.exit(f"{path}: no '{prefix.strip()}' line in its header; make it again with scripts/lock")


def compile_lock(uv: str, date: str, out: Path, airflow: str, python: str, lock_set: str) -> Path:
    """Resolve one lock with uv and write it with this repository's header."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    groups = [f"--group=pyproject.toml:{name}" for name in project.get("dependency-groups", {})]
    extras = [f"--extra={name}" for name in EXTRAS]
    # The build backend too: the editable install and `uv build` use it (build constraints).
    build = project.get("build-system", {}).get("requires", [])
    with tempfile.TemporaryDirectory() as tmp:
        requirements = Path(tmp, "requirements.in")
        requirements.write_text("\n".join([f"apache-airflow=={airflow}", *build, *SETS[lock_set]]) + "\n")
        resolved = Path(tmp, "resolved.txt")
        command = [
            uv, "pip", "compile", "--quiet", "--no-header", "--python-version", python,
            "--python-platform", "linux", "--exclude-newer", date,
            "pyproject.toml", str(requirements), *extras, *groups, "--output-file", str(resolved),
        ]  # fmt: skip
        subprocess.run(command, cwd=ROOT, check=True)
        body = resolved.read_text().replace(str(requirements), "airflow-ft-provider's lock inputs")
    target = lock_path(airflow, python, lock_set, out)
    target.write_text(
        f"# Constraints of airflow-ft-provider's environments: Apache Airflow {airflow} on Python {python}"
        f"{f' ({lock_set})' if lock_set else ''}.\n"
        "# Made by scripts/lock (uv pip compile of pyproject.toml: every extra and dependency group);\n"
        "# only releases published before the date below. Install as with Airflow's constraints:\n"
        f'#   pip install "apache-airflow=={airflow}" "airflow-ft-provider[{",".join(EXTRAS)}]" -c {target.name}\n'
        f"{DATE_LINE}{date}\n"
        f"{DIGEST_LINE}{inputs_digest(airflow, python, lock_set)}\n" + body
    )
    return target


def install_args(airflow: str, python: str, lock_set: str, directory: Path, build_only: bool = False) -> list[str]:
    """uv arguments that install from the lock, after checking it still matches its inputs.

    ``build_only``: only what ``uv build`` takes (the build backend's pins and the date).
    """
    path = lock_path(airflow, python, lock_set, directory)
    if not path.exists():
        sys.exit(
            f"no lock for Apache Airflow {airflow} on Python {python}{f' ({lock_set})' if lock_set else ''}: "
            f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} is missing. "
            "Add the pair to scripts/lock's matrix and run scripts/lock."
        )
    if header_value(path, DIGEST_LINE) != inputs_digest(airflow, python, lock_set):
        sys.exit(
            f"{path.name} was made from other dependencies than pyproject.toml now declares: "
            "run scripts/lock (same date, reproducible) and commit locks/ with the change."
        )
    date = header_value(path, DATE_LINE)
    # The date too: nothing outside the lock (a build backend, say) can be newer than what it pins.
    build = ["--build-constraint", str(path), "--exclude-newer", date]
    return build if build_only else ["--constraint", str(path), *build]


def pins(path: Path) -> dict[str, str]:
    return {m[1].lower(): m[2] for line in path.read_text().splitlines() if (m := PIN.match(line))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("compile", help="make lock files")
    make.add_argument("--uv", required=True)
    make.add_argument("--date", required=True, help="exclude-newer: an RFC 3339 timestamp")
    make.add_argument("--out", type=Path, default=LOCKS)
    make.add_argument("--airflow", action="append", required=True, help="VERSION:PYTHON,PYTHON[:SET]")
    args_of = sub.add_parser("install-args", help="uv pip arguments that install from a lock")
    args_of.add_argument("--airflow", required=True)
    args_of.add_argument("--python", required=True)
    args_of.add_argument("--set", default="", choices=sorted(SETS))
    args_of.add_argument("--dir", type=Path, default=LOCKS)
    args_of.add_argument("--build", action="store_true", help="only the arguments uv build takes")
    date = sub.add_parser("date", help="the exclude-newer date of the locks in a directory")
    date.add_argument("--dir", type=Path, default=LOCKS)
    diff = sub.add_parser("diff", help="versions that differ between two directories of locks")
    diff.add_argument("before", type=Path)
    diff.add_argument("after", type=Path)
    args = parser.parse_args()

    if args.command == "compile":
        args.out.mkdir(parents=True, exist_ok=True)
        for entry in args.airflow:
            airflow, pythons, lock_set = [*entry.split(":"), ""][:3]
            for python in pythons.split(","):
                print(f"   {compile_lock(args.uv, args.date, args.out, airflow, python, lock_set).name}")
    elif args.command == "install-args":
        print("\n".join(install_args(args.airflow, args.python, args.set, args.dir, args.build)))
    elif args.command == "date":
        dates = {header_value(path, DATE_LINE) for path in sorted(args.dir.glob("airflow-*.txt"))}
        if len(dates) != 1:
            sys.exit(f"the locks in {args.dir} do not share one exclude-newer date: {sorted(dates)}")
        print(dates.pop())
    else:
        for before in sorted(args.before.glob("airflow-*.txt")):
            after = args.after / before.name
            if not after.exists():
                continue
            old, new = pins(before), pins(after)
            changed = [f"{name} {old.get(name, '-')} -> {new.get(name, '-')}" for name in sorted(old | new)
                       if old.get(name) != new.get(name)]  # fmt: skip
            print(f"{before.name}: {len(changed)} of {len(new)} packages differ")
            for line in changed:
                print(f"   {line}")


if __name__ == "__main__":
    main()
