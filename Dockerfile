# syntax=docker/dockerfile:1
# The one image for the API and the workers. Everything the service needs at run time is
# installed, and the Detoxify weights downloaded, at build time: containers never reach the
# internet.
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# PyTorch first, from its CPU index, so nothing later pulls a multi-GB CUDA build.
# For a GPU image: --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX}"

COPY pyproject.toml README.md ./
COPY moderation ./moderation
COPY workers ./workers
RUN pip install ".[detoxify]"

# The Detoxify weights, with the Hugging Face config and tokenizer files they need and their
# ONNX export, fetched here once: containers then start fully offline. `moderation models pull`
# verifies every weight and fails the build if anything is missing or does not match.
# TOXICITY_MODEL: original, unbiased, multilingual, original-small, unbiased-small.
# PULL_WEIGHTS=0 builds without weights (workers then run the linear fallback, flagged degraded).
ARG TOXICITY_MODEL=original
ARG PULL_WEIGHTS=1
RUN mkdir -p /models /var/lib/moderation \
    && if [ "${PULL_WEIGHTS}" = "1" ]; then \
         moderation models pull "${TOXICITY_MODEL}" --dir /models; \
       fi

RUN useradd --system --uid 10001 --home-dir /app moderation \
    && chown -R moderation /models /var/lib/moderation

ENV MODERATION_HOST=0.0.0.0 \
    MODERATION_PORT=8000 \
    MODERATION_DATA_DIR=/var/lib/moderation \
    MODERATION_MODEL_DIR=/models \
    MODERATION_TOXICITY_MODEL=${TOXICITY_MODEL} \
    MODERATION_HEARTBEAT_FILE=/tmp/worker-heartbeat \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

USER moderation
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"

CMD ["moderation", "serve"]
