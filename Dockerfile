# The service image: onnxruntime and FastAPI only (no torch, no training data), non-root, health-checked.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ELMOL_MODEL_DIR=/app/models/default \
    ELMOL_HOST=0.0.0.0 \
    ELMOL_PORT=8000

WORKDIR /app
COPY docker/constraints.txt pyproject.toml README.md ./
COPY elmol_nlu ./elmol_nlu
COPY service ./service
RUN pip install --constraint constraints.txt '.[service]' && rm -rf /app/elmol_nlu /app/service /app/build
COPY models/default ./models/default

RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin app
USER app
EXPOSE 8000
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=2).status != 200)"]
CMD ["python", "-m", "service"]
