# The service image: onnxruntime and FastAPI only (no torch, no training data, no compiler), non-root,
# health-checked. A build stage compiles the package's C extension (CRF Viterbi) into a wheel.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Python.h: the official image has it under /usr/local; a Debian-python image needs python3.11-dev for it
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && (python -c "import os, sys, sysconfig; sys.exit(not os.path.exists(sysconfig.get_path('include') + '/Python.h'))" \
        || apt-get install -y --no-install-recommends python3.11-dev)
WORKDIR /src
COPY pyproject.toml README.md ./
COPY elmol_nlu ./elmol_nlu
COPY service ./service
COPY cli ./cli
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && python -c "import glob, sys, zipfile; sys.exit(not any(n.startswith('elmol_nlu/_crf') for n in zipfile.ZipFile(glob.glob('/wheels/*.whl')[0]).namelist()))"

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ELMOL_MODEL_DIR=/app/models/default \
    ELMOL_HOST=0.0.0.0 \
    ELMOL_PORT=8000

WORKDIR /app
COPY docker/constraints.txt ./
COPY --from=build /wheels /wheels
RUN pip install --constraint constraints.txt "$(echo /wheels/elmol_nlu-*.whl)[service]" && rm -rf /wheels \
    && python -c "from elmol_nlu import crf; assert crf.COMPILED, 'the C CRF loops did not install'"
COPY models/default ./models/default
# the small distilled model (docs/PERFORMANCE.md): ELMOL_MODEL_DIR=/app/models/fast, or ELMOL_MODEL=fast with compose
COPY models/fast ./models/fast

RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /app/review && chown app /app/review  # the review queue's volume (ELMOL_REVIEW=true)
USER app
EXPOSE 8000
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=2).status != 200)"]
CMD ["python", "-m", "service"]
