# tfclf training image: CUDA, the pinned GPU stack and the offline MiniLM encoder.
#
#   docker build -t tfclf:gpu .
#   docker run --rm --gpus all -v "$PWD/data:/data:ro" -v "$PWD/runs:/work/runs" \
#       tfclf:gpu --encoder minilm --data /data/tickets.csv --output-dir runs/tickets
#
# Arguments after the image name go to `python -m tfclf.fit`. See README.md,
# "Running on GPUs and clusters", for several GPUs, several hosts and memory sizes.
#
# TF_VERSION must equal the tensorflow pin in requirements.txt and requirements-gpu.txt
# (tests/test_docker.py checks it; setup.cfg's range admits it, tests/test_packaging.py).
ARG TF_VERSION=2.20.0
FROM tensorflow/tensorflow:${TF_VERSION}-gpu

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    TF_USE_LEGACY_KERAS=1

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# tfclf pins cp311 wheels (setup.cfg: python_requires >=3.11,<3.12), so it gets its own
# Python 3.11 virtualenv whatever Python the base image ships.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /opt/tfclf/venv
ENV PATH=/opt/tfclf/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/tfclf/venv

# The pinned stack first (its layer is reused while only tfclf's code changes).
# requirements-gpu.txt is requirements.txt with tensorflow[and-cuda]: TensorFlow's own
# CUDA and cuDNN wheels, so only the host's NVIDIA driver is needed.
WORKDIR /opt/tfclf/src
COPY requirements.txt requirements-gpu.txt requirements-nodeps.txt ./
RUN python -m pip install -r requirements-gpu.txt \
    && python -m pip install --no-deps -r requirements-nodeps.txt

COPY pyproject.toml setup.cfg README.md ./
COPY tfclf ./tfclf
RUN python -m pip install --no-deps --no-build-isolation . \
    && python -c "import tfclf, tensorflow as tf, tensorflow_text; print('tfclf', tfclf.__version__, 'TF', tf.__version__)"

# Runs as the non-root user tfclf (uid 1000); /work is the working directory (relative --output-dir lands there).
RUN useradd --create-home --uid 1000 --shell /bin/bash tfclf \
    && mkdir -p /work /opt/tfclf/encoders /cache/tfhub \
    && chown tfclf:tfclf /work /opt/tfclf/encoders /cache/tfhub
USER 1000:1000

# The offline MiniLM encoder, converted now so the container trains with no network.
# TF Hub downloads (--encoder labse ...) go to /cache/tfhub: mount a volume there to keep them.
ENV TFCLF_CACHE_DIR=/opt/tfclf/encoders \
    TFHUB_CACHE_DIR=/cache/tfhub
# The cache folder and its lock file stay writable, so `docker run --user UID:GID` works too.
RUN python -m tfclf.encoders build minilm \
    && test -f /opt/tfclf/encoders/minilm/encoder/saved_model.pb \
    && chmod a+rw /opt/tfclf/encoders/.minilm.lock \
    && chmod a+rwx /opt/tfclf/encoders /cache/tfhub

WORKDIR /work
# With no arguments: MiniLM on the bundled support-ticket sample, offline (a smoke test).
ENTRYPOINT ["python", "-m", "tfclf.fit"]
