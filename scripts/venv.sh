# Sourced by demo.sh and test.sh: creates ./.venv (Python 3.11) and installs the pinned
# stack once; later calls reinstall only when a requirements file changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${TFCLF_VENV:-$ROOT/.venv}"
PY="$(command -v python3.11 || command -v python3)"
"$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
  echo "tfclf needs Python 3.11; found $("$PY" --version)" >&2; exit 2; }
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
STAMP="$VENV/.tfclf-installed"
WANT="$(cat "$ROOT"/requirements.txt "$ROOT"/requirements-dev.txt "$ROOT"/requirements-nodeps.txt \
        "$ROOT"/setup.cfg "$ROOT"/pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "Installing the pinned stack into $VENV (first run takes a few minutes)..." >&2
  pip_install() { "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" \
                    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
  pip_install -r "$ROOT/requirements-dev.txt"
  pip_install --no-deps -r "$ROOT/requirements-nodeps.txt"
  pip_install --no-deps --no-build-isolation -e "$ROOT"
  echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
cd "$ROOT"
