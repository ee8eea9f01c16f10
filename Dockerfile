# The operator's image: `cutlass run` as a non-root user, on a read-only root filesystem.
#
#   docker build -t cutlass-operator:dev .
#   docker build --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" -t cutlass-operator:0.1.0 .
#
# Two stages: the first builds this repository's wheel (and its dependencies' wheels); the second
# installs exactly that wheel, offline, and keeps no build tools, no pip and no caches. CI machines
# have no Docker engine: tests/unit/test_delivery.py checks this file's structure instead.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="cutlass-operator" \
      org.opencontainers.image.description="Reconciles a multi-account, multi-region AWS stack from two custom resources" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin cutlass
COPY --from=build /wheels /wheels
# --no-index: the package and its dependencies come from the wheels built above, nothing else.
# Then pip itself goes: nothing in the running image installs anything.
RUN pip install --no-cache-dir --no-index --find-links=/wheels cutlass-operator \
    && rm -rf /wheels \
    && pip uninstall --yes pip setuptools wheel
USER 10001:10001
# Read-only root filesystem: no bytecode written at run time; HOME is the scratch /tmp (an
# emptyDir in the chart) for any library that wants a writable home.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp
# 8080: kopf's liveness endpoint (the chart's probes); 8000: Prometheus metrics.
EXPOSE 8080 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["cutlass", "--log-format", "json", "run", "--liveness", "http://0.0.0.0:8080/healthz"]
