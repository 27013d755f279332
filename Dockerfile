# Samverkan bot. State in /data (database and encryption keys), configuration at
# /config/config.toml, secrets from the environment (SAMVERKAN_PASSWORD or SAMVERKAN_ACCESS_TOKEN,
# optionally SAMVERKAN_STORE_KEY and PGPASSWORD).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY config ./config
RUN pip install --no-cache-dir '.[postgres]' \
    && useradd --system --uid 10001 --home-dir /data samverkan \
    && mkdir -p /data /config && chown samverkan /data

# Relative paths in the configuration (the default database `data/samverkan.db`) resolve under /.
WORKDIR /
USER samverkan
VOLUME ["/data"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s \
    CMD ["python", "-m", "bot", "health", "--config", "/config/config.toml"]
CMD ["python", "-m", "bot", "--log-format", "json", "run", "--config", "/config/config.toml"]
