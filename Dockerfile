# Build: docker build -t cutlass-operator:dev .
# Multi-stage: wheels are built in the first stage; the runtime stage has no compilers or pip cache.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
LABEL org.opencontainers.image.title="cutlass-operator" \
      org.opencontainers.image.description="Reconciles a multi-account, multi-region AWS stack from two custom resources" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin cutlass
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER 10001
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
EXPOSE 8080
ENTRYPOINT ["cutlass", "--log-format", "json", "run", "--liveness", "http://0.0.0.0:8080/healthz"]
