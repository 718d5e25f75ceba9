# One image for every newsflow process; the command picks the job:
#   newsflow poller | cleaner | tagger | sink | topics | status | articles ...
# docker-compose.yml builds it once and runs each stage from it.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
RUN pip install . && rm -rf /src

RUN useradd --system --create-home --home-dir /home/newsflow newsflow \
    && mkdir -p /data && chown newsflow /data
USER newsflow
WORKDIR /data

# Metrics on every interface inside the container (Prometheus scrapes it over the network).
ENV NEWSFLOW_DATA_DIR=/data \
    NEWSFLOW_METRICS_HOST=0.0.0.0 \
    NEWSFLOW_METRICS_PORT=9300
EXPOSE 9300
VOLUME ["/data"]

ENTRYPOINT ["newsflow"]
CMD ["--help"]
