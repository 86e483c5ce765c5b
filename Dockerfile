# syntax=docker/dockerfile:1
# One image for both parts of rightsizer:
#   rightsizer-agent   the node agent (the Helm chart's DaemonSet runs it as root, see below)
#   rightsizer         the CLI; the chart's weekly CronJob runs `rightsizer recommend` as uid 10001
#
#   docker build -t REGISTRY/rightsizer:0.1.0 .
#   docker run --rm REGISTRY/rightsizer:0.1.0 rightsizer --help
#
# The default user is the unprivileged uid 10001. The agent needs root only on Kubernetes (the kubelet's
# pod-resources socket accepts only root), so the chart sets runAsUser: 0 for the agent pod alone.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- builder: install the project and its dependencies into a self-contained venv ---------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/rightsizer
WORKDIR /src
# .dockerignore lets through only what the package needs (pyproject.toml and the Python packages).
COPY . .
RUN /opt/rightsizer/bin/pip install . \
 && /opt/rightsizer/bin/pip check

# ---- final: the venv on the same slim base, no build tools, no sources --------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="rightsizer" \
      org.opencontainers.image.description="Right-size GPU and CPU workloads on Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"

RUN groupadd --system --gid 10001 rightsizer \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/rightsizer --no-create-home \
            --shell /usr/sbin/nologin rightsizer

COPY --from=builder /opt/rightsizer /opt/rightsizer

# NUMBA_CACHE_DIR: compiled kernels live outside the (read-only) site-packages.
# NUMBA_CPU_NAME=generic: compile for baseline x86-64/aarch64 instead of the build machine's CPU, so the
# cache warmed below is valid on whatever node the report runs (a cache keyed to the builder's CPU model
# would be ignored and every run would spend seconds compiling). Set NUMBA_CPU_NAME="" to tune for the
# host instead, at the cost of that compile.
ENV PATH=/opt/rightsizer/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NUMBA_CACHE_DIR=/var/cache/rightsizer/numba \
    NUMBA_CPU_NAME=generic

# Warm the numba cache: run the optimizer.profiles kernels once on a toy dataset, so a container
# loads them compiled instead of compiling on every run. The chart copies this cache into a writable
# /tmp at start.
COPY scripts/warm_numba_cache.py /opt/rightsizer/share/warm_numba_cache.py
RUN mkdir -p "$NUMBA_CACHE_DIR" /var/lib/rightsizer/spool /var/lib/rightsizer/data \
 && python /opt/rightsizer/share/warm_numba_cache.py \
 && chmod -R a+rX /var/cache/rightsizer \
 && chown -R 10001:10001 /var/lib/rightsizer \
 && rightsizer --help >/dev/null \
 && rightsizer-agent --help >/dev/null

USER 10001:10001
WORKDIR /var/lib/rightsizer
# rightsizer-agent's /metrics and /healthz.
EXPOSE 9402
CMD ["rightsizer", "--help"]
