# Sourced by every script that builds an environment: one virtualenv per purpose under .venvs/,
# each installed from a lock in locks/ (scripts/locks.py), with uv from PyPI at a pinned version.
# Nothing is assumed to be installed but Python 3.11; nothing resolves against whatever the
# package index serves today (scripts/test --newest does that on purpose, in .venvs/newest/).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENVS="${FT_VENVS:-$ROOT/.venvs}"
# The locks to install from: the committed ones, unless a drift report points elsewhere.
LOCKS="${FT_LOCKS:-$ROOT/locks}"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

# The newest 3.3.x we test and the oldest 3.x we claim to support (each has locks in locks/).
AIRFLOW_LATEST="${AIRFLOW_LATEST:-3.3.2}"
AIRFLOW_OLDEST="${AIRFLOW_OLDEST:-3.1.8}"
# The Pythons the lanes of scripts/test run on the newest Airflow, besides $PYTHON.
OTHER_PYTHONS=(3.12 3.13)
# uv itself is pinned: a new uv may resolve or build differently.
UV_VERSION=0.13.9

uv_bin() {
  local tools="$ROOT/.venvs/tools"
  if [ "$(cat "$tools/.uv-version" 2>/dev/null)" != "$UV_VERSION" ]; then
    "$PYTHON" -m venv --clear "$tools"
    "$tools/bin/python" -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
    echo "$UV_VERSION" >"$tools/.uv-version"
  fi
  echo "$tools/bin/uv"
}

python_version() {  # python_version INTERPRETER -> 3.11
  "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])'
}

# lock_args AIRFLOW_VERSION INTERPRETER [LOCK_SET] [--build] -> the uv arguments (one a line) that
# install from that lock; fails, naming the fix, when the lock is missing or older than pyproject.toml.
lock_args() {
  "$PYTHON" "$ROOT/scripts/locks.py" install-args --dir "$LOCKS" --airflow "$1" \
    --python "$(python_version "$2")" --set "${3:-}" ${4:+"$4"}
}

# locked_venv DIR AIRFLOW_VERSION INTERPRETER LOCK_SET [REQUIREMENT...] -> DIR, a virtualenv with
# the requirements (uv pip install arguments), every package as the lock of that Airflow pins it.
# Rebuilt from scratch whenever the lock or the requirements change (the stamp in DIR/.ready), so
# nothing from an older lock stays behind.
locked_venv() {
  local dir="$1" version="$2" python="$3" lock_set="$4" uv stamp pins
  shift 4
  uv="$(uv_bin)"
  pins="$(lock_args "$version" "$python" "$lock_set")" || return 1
  # The lock file is the second line of pins (--constraint FILE ...).
  stamp="$(printf '%s\n' "$UV_VERSION" "$python" "$pins" "$@" | cat - "$ROOT/pyproject.toml" \
    "$(sed -n 2p <<<"$pins")" | sha256sum | cut -c1-32)"
  if [ "$(cat "$dir/.ready" 2>/dev/null)" != "$stamp" ]; then
    "$uv" venv -q --clear -p "$python" "$dir" >&2
    # Split pins at line ends only: one argument a line (a path may hold spaces).
    (IFS=$'\n' && VIRTUAL_ENV="$dir" "$uv" pip install -q $pins "$@" >&2)
    echo "$stamp" >"$dir/.ready"
  fi
  echo "$dir"
}

# venv_for VERSION [NAME] -> a test virtualenv: that Airflow, the provider (editable) with every
# extra and the test tools, on $PYTHON (a path or a command: PYTHON="$(python_for 3.13)").
venv_for() {
  local version="$1"
  locked_venv "$VENVS/airflow-$1${2:+-$2}" "$version" "$PYTHON" "" "apache-airflow==$version" -e "$ROOT[google,amazon,azure]" \
    --group "$ROOT/pyproject.toml:test" --group "$ROOT/pyproject.toml:lint" \
    --group "$ROOT/pyproject.toml:e2e" --group "$ROOT/pyproject.toml:ui"
}

# sdk_venv SET REQUIREMENT... -> the newest Airflow's test virtualenv from a lock set of its own
# (scripts/locks.py SETS), for an official SDK whose pins the main resolution cannot share.
sdk_venv() {
  local lock_set="$1"
  shift
  locked_venv "$VENVS/$lock_set" "$AIRFLOW_LATEST" "$PYTHON" "$lock_set" "apache-airflow==$AIRFLOW_LATEST" \
    -e "$ROOT[google,amazon,azure]" --group "$ROOT/pyproject.toml:test" "$@"
}

# python_for 3.12 -> an interpreter of that version: pyenv's when it has one (its shims cannot
# run a version that is not selected), else one uv installs.
python_for() {
  local version="$1" found="" uv
  if command -v pyenv >/dev/null 2>&1; then
    found="$(ls -d "$(pyenv root)/versions/$version".*/bin/"python$version" 2>/dev/null | sort -V | tail -1)"
  fi
  if [ -z "$found" ]; then
    uv="$(uv_bin)"
    "$uv" python install -q "$version" >&2 && found="$("$uv" python find --managed-python "$version")"
  fi
  [ -n "$found" ] && echo "$found"
}

# light_venv NAME [GROUP...] -> a virtualenv with the newest Airflow, the provider (editable, with
# its extras) and only the named dependency groups: for tools that run the provider but none of
# the tests (the demo, the docs).
light_venv() {
  local name="$1" group groups=()
  shift
  for group in "$@"; do groups+=(--group "$ROOT/pyproject.toml:$group"); done
  locked_venv "$VENVS/$name" "$AIRFLOW_LATEST" "$PYTHON" "" "apache-airflow==$AIRFLOW_LATEST" -e "$ROOT[google,amazon,azure]" \
    ${groups[@]+"${groups[@]}"}
}

# demo_venv -> the demo's virtualenv: Airflow and the provider, nothing else.
demo_venv() {
  light_venv demo
}

# The browser tests drive Debian's Chromium (Playwright's own browser download does not work
# here). Installed on first use when we may; otherwise tests/ui says why it cannot run.
ensure_chromium() {
  [ -x /usr/bin/chromium ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing Debian's chromium for the browser tests"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
  fi
}
