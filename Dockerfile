# syntax=docker/dockerfile:1
# lagless: one image for every process kind (web, worker, scheduler, migrate);
# compose.yml and deploy/k8s pick the command.

# --- builder: resolve the locked dependencies into /app/.venv -----------------
FROM python:3.11-slim AS builder
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv
ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11
WORKDIR /app
# Dependencies first, so a code change does not reinstall them. Every
# dependency ships wheels, so no compiler is needed even here.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv uv sync --frozen --no-dev --no-install-project
COPY manage.py ./
COPY backend ./backend
COPY actors ./actors
RUN python -m compileall -q backend actors

# --- runtime: the interpreter, the venv and the code; no build tools ----------
FROM python:3.11-slim AS runtime
RUN groupadd --system --gid 10001 lagless \
    && useradd --system --uid 10001 --gid lagless --home-dir /app --no-create-home lagless \
    && mkdir -p /data/media \
    && chown lagless:lagless /data/media
WORKDIR /app
COPY --from=builder --chown=root:root /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MEDIA_ROOT=/data/media \
    STATIC_ROOT=/app/staticfiles
# Hashed, compressed static files for ENV_NAME=prod, collected once at build.
# Settings insist on these variables outside dev; none of the values is used.
RUN ENV_NAME=prod SECRET_KEY=collectstatic-only ALLOWED_HOSTS=build.invalid \
    CONTACT_RECIPIENTS=build@build.invalid PHOTO_STORAGE=local \
    DATABASE_URL=postgresql://build@build.invalid/build \
    python manage.py collectstatic --no-input --verbosity 0
USER 10001:10001
EXPOSE 8000
CMD ["python", "-m", "uvicorn", "backend.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--no-access-log", "--lifespan", "off", "--timeout-graceful-shutdown", "20"]
