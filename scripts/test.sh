#!/usr/bin/env bash
# Installs tfclf and pytest into ./.venv if needed, then runs the default (offline) test suite,
# then, with no arguments, the Apache Beam tests in ./.venv-beam (scripts/test_beam.sh: Beam needs
# pyarrow<26 and protobuf<7, so it has a venv of its own). Exits non-zero if either fails.
# Extra arguments go to the main suite's pytest only, e.g. `bash scripts/test.sh -m slow`;
# TFCLF_SKIP_BEAM=1 skips the Beam step.
source "$(dirname "$0")/venv.sh"
status=0
python -m pytest "$@" || status=$?
if [ "$#" -eq 0 ] && [ "${TFCLF_SKIP_BEAM:-0}" != 1 ]; then
  unset TFCLF_VENV TFCLF_REQUIREMENTS
  bash "$ROOT/scripts/test_beam.sh" || { beam_status=$?; [ "$status" -ne 0 ] || status=$beam_status; }
fi
exit "$status"
