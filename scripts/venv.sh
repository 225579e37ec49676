# Sourced by demo.sh, test.sh and test_beam.sh: creates a Python 3.11 venv and installs a pinned
# stack once; later calls reinstall only when a requirements file changed.
#   TFCLF_VENV          the venv (default ./.venv)
#   TFCLF_REQUIREMENTS  the lock to install, relative to the repository (default requirements-dev.txt:
#                       requirements.txt and the dev tools); another lock, e.g. requirements-beam.txt,
#                       gets requirements-dev.txt's pytest pin on top
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${TFCLF_VENV:-$ROOT/.venv}"
REQUIREMENTS="${TFCLF_REQUIREMENTS:-requirements-dev.txt}"
[ -f "$ROOT/$REQUIREMENTS" ] || { echo "TFCLF_REQUIREMENTS: no such file: $ROOT/$REQUIREMENTS" >&2; exit 2; }
PY="$(command -v python3.11 || command -v python3)"
"$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
  echo "tfclf needs Python 3.11; found $("$PY" --version)" >&2; exit 2; }
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
STAMP="$VENV/.tfclf-installed"
WANT="$(echo "$REQUIREMENTS" | cat - "$ROOT"/requirements.txt "$ROOT"/requirements-dev.txt "$ROOT/$REQUIREMENTS" \
        "$ROOT"/requirements-nodeps.txt "$ROOT"/setup.cfg "$ROOT"/pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "Installing the pinned stack ($REQUIREMENTS) into $VENV (first run takes a few minutes)..." >&2
  pip_install() { "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" \
                    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
  pip_install -r "$ROOT/$REQUIREMENTS"
  if [ "$REQUIREMENTS" != requirements-dev.txt ]; then
    pip_install "$(grep -E '^pytest==' "$ROOT/requirements-dev.txt")"
  fi
  pip_install --no-deps -r "$ROOT/requirements-nodeps.txt"
  pip_install --no-deps --no-build-isolation -e "$ROOT"
  echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
cd "$ROOT"
