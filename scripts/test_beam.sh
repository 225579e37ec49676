#!/usr/bin/env bash
# The Apache Beam tests (python -m tfclf.predict_beam) in their own venv, ./.venv-beam: Beam 2.77
# needs pyarrow<26 and protobuf<7, so it is not installed into ./.venv (requirements.txt).
# Creates or updates .venv-beam from requirements-beam.txt, then runs the tests marked `beam`.
# Extra arguments go to pytest, e.g. `bash scripts/test_beam.sh -k shards`.
export TFCLF_VENV="${TFCLF_BEAM_VENV:-$(cd "$(dirname "$0")/.." && pwd)/.venv-beam}"
export TFCLF_REQUIREMENTS=requirements-beam.txt
source "$(dirname "$0")/venv.sh"
exec python -m pytest -m beam tests/test_predict_beam.py "$@"
