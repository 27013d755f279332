# Samverkan bot. State in /data (database and encryption keys), configuration at
# /config/config.toml, secrets from the environment (SAMVERKAN_PASSWORD or SAMVERKAN_ACCESS_TOKEN,
# SAMVERKAN_STORE_KEY, and PGPASSWORD with PostgreSQL).
# An exact tag; pin its digest too where your registry policy asks for it (FROM python:…@sha256:…).
FROM python:3.11.7-slim-bookworm

LABEL org.opencontainers.image.title="Samverkan bot" \
      org.opencontainers.image.description="A Matrix bot for regional crisis collaboration: convene by function, run meetings, compile the lägesbild" \
      org.opencontainers.image.licenses="EUPL-1.2" \
      org.opencontainers.image.version="0.1.0"

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
# The voice channel's SIP user agent and speech synthesiser (used only with [voice]).
RUN apt-get update && apt-get install -y --no-install-recommends baresip-core espeak-ng \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.lock ./
# Exactly the versions tested, checked against their hashes.
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY config ./config
RUN pip install --no-cache-dir --no-deps '.[postgres]' \
    && useradd --system --uid 10001 --gid 0 --home-dir /data samverkan \
    && mkdir -p /data /config \
    && chown samverkan:0 /data && chmod g=u /data

# Relative paths in the configuration (the default database `data/samverkan.db`) resolve under /.
# /data is writable by group 0 too, for platforms that run the image as an arbitrary user (OpenShift).
WORKDIR /
USER 10001
VOLUME ["/data"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s \
    CMD ["python", "-m", "bot", "health", "--config", "/config/config.toml"]
CMD ["python", "-m", "bot", "--log-format", "json", "run", "--config", "/config/config.toml"]
