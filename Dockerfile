# broadcast-emulator as a service container for any language's tests (see docs/ci.md).
#   docker build -t broadcast-emulator .
#   docker run --rm -p 8080:8080 broadcast-emulator
# Every serve flag has an EMULATOR_* environment twin (EMULATOR_CLOCK, EMULATOR_SEED, ...).
# Scenario files: mount a folder at /scenarios and set EMULATOR_SCENARIO=/scenarios/<file>.
# State that outlives the container: /data is a volume the image's user can write, e.g.
#   docker run -v emulator-data:/data -e EMULATOR_STATE_FILE=/data/state.json ...
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY pyproject.toml README.md LICENSE /src/
COPY emulator /src/emulator
RUN pip install --no-cache-dir /src \
    && rm -rf /src \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin emulator \
    && mkdir -p /scenarios /data \
    && chown emulator /data

# The one folder the unprivileged user writes: state files (EMULATOR_STATE_FILE=/data/...).
VOLUME ["/data"]

WORKDIR /scenarios
USER emulator

# Listening on every interface only makes sense inside the container.
ENV EMULATOR_HOST=0.0.0.0 \
    EMULATOR_PORT=8080
EXPOSE 8080

HEALTHCHECK --interval=5s --timeout=3s --start-period=3s --retries=5 \
    CMD python -c "import os, ssl, urllib.request as r; tls = os.environ.get('EMULATOR_TLS_CERT'); r.urlopen(('https' if tls else 'http') + '://127.0.0.1:' + os.environ.get('EMULATOR_PORT', '8080') + '/_emulator/health', timeout=2, context=ssl._create_unverified_context() if tls else None)"

ENTRYPOINT ["broadcast-emulator"]
CMD ["serve"]
