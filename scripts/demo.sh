#!/usr/bin/env bash
# Installs tfclf into ./.venv if needed, then trains MiniLM on the bundled sample.
# Extra arguments go to `python -m tfclf.fit`.
source "$(dirname "$0")/venv.sh"
exec python -m tfclf.fit "$@"
