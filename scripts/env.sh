# Sourced by scripts/test and scripts/demo: builds (or reuses) one virtualenv per Airflow
# version under .venvs/, using uv from PyPI. Nothing is assumed to be installed but Python 3.11.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENVS="$ROOT/.venvs"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

# The newest 3.3.x we test and the oldest 3.x we claim to support.
AIRFLOW_LATEST="${AIRFLOW_LATEST:-3.3.2}"
AIRFLOW_OLDEST="${AIRFLOW_OLDEST:-3.1.8}"

uv_bin() {
  if [ ! -x "$VENVS/tools/bin/uv" ]; then
    "$PYTHON" -m venv "$VENVS/tools"
    "$VENVS/tools/bin/python" -m pip install -q uv
  fi
  echo "$VENVS/tools/bin/uv"
}

# venv_for VERSION [NAME] -> path of a virtualenv with that Airflow, the provider (editable) and the
# test tools, on $PYTHON (a path, a command or a version uv finds or fetches: PYTHON=3.13).
venv_for() {
  local version="$1" dir="$VENVS/airflow-$1${2:+-$2}" uv
  uv="$(uv_bin)"
  if [ ! -f "$dir/.ready" ] || [ "$ROOT/pyproject.toml" -nt "$dir/.ready" ]; then
    "$uv" venv -q --allow-existing -p "$PYTHON" "$dir"
    VIRTUAL_ENV="$dir" "$uv" pip install -q \
      "apache-airflow==$version" -e "$ROOT[google,amazon]" --group "$ROOT/pyproject.toml:test" --group "$ROOT/pyproject.toml:lint" \
      --group "$ROOT/pyproject.toml:e2e" --group "$ROOT/pyproject.toml:ui"
    touch "$dir/.ready"
  fi
  echo "$dir"
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

# light_venv NAME [GROUP...] -> path of a virtualenv with the newest Airflow, the provider (editable,
# with google-auth for Vertex AI) and only the named dependency groups: for tools that run the
# provider but none of the tests (the demo, the docs), a fraction of the test venvs' size.
light_venv() {
  local name="$1" dir="$VENVS/$1" uv group
  shift
  local groups=()
  for group in "$@"; do groups+=(--group "$ROOT/pyproject.toml:$group"); done
  uv="$(uv_bin)"
  if [ ! -f "$dir/.ready" ] || [ "$ROOT/pyproject.toml" -nt "$dir/.ready" ]; then
    "$uv" venv -q --allow-existing -p "$PYTHON" "$dir"
    VIRTUAL_ENV="$dir" "$uv" pip install -q "apache-airflow==$AIRFLOW_LATEST" -e "$ROOT[google,amazon]" ${groups[@]+"${groups[@]}"}
    touch "$dir/.ready"
  fi
  echo "$dir"
}

# demo_venv -> the demo's virtualenv: Airflow, the provider and google-auth, nothing else.
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
