#!/usr/bin/env bash
# Installs tfclf and pytest into ./.venv if needed, then runs the default (offline) test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m slow`.
source "$(dirname "$0")/venv.sh"
exec python -m pytest "$@"
