# syntax=docker/dockerfile:1
# Mobilize application image: web (gunicorn), Celery worker and Celery beat all run from it;
# see docker-compose.yml for the commands.

# --- PWA build (a no-op until frontend/package.json exists) ---------------------------------------
FROM node:20-slim AS frontend
WORKDIR /frontend
COPY frontend/ ./
RUN if [ -f package.json ]; then npm ci && npm run build; fi && mkdir -p dist

# --- Application ------------------------------------------------------------------------------
FROM python:3.11-slim AS app

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_NO_CACHE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN groupadd --system --gid 10001 mobilize \
    && useradd --system --uid 10001 --gid mobilize --home-dir /app --no-create-home --shell /usr/sbin/nologin mobilize

# Dependencies first (cached until requirements.lock changes), installed exactly as `make install`
# does: uv at the version pinned in the lock, then a hash-checked sync.
COPY requirements.lock /tmp/requirements.lock
RUN python -m venv /opt/venv \
    && UV_VERSION="$(sed -n 's/^uv==\([^ ]*\).*/\1/p' /tmp/requirements.lock | head -n 1)" \
    && test -n "$UV_VERSION" \
    && /opt/venv/bin/python -m pip install "uv==${UV_VERSION}" \
    && /opt/venv/bin/uv pip sync --python /opt/venv/bin/python --require-hashes /tmp/requirements.lock \
    && rm /tmp/requirements.lock

WORKDIR /app
COPY . /app
COPY --from=frontend /frontend/dist /app/frontend/dist

# Static files are collected at build time; the demo settings need no secrets or services.
RUN MOBILIZE_ENV=demo DATABASE_URL=sqlite:////tmp/build.sqlite3 \
        python manage.py collectstatic --noinput --verbosity 0 \
    && rm -rf /tmp/build.sqlite3 /app/var/broker /app/var/mail \
    && mkdir -p /app/var /var/lib/mobilize/beat \
    && chown -R mobilize:mobilize /app/var /var/lib/mobilize

USER mobilize
EXPOSE 8000

CMD ["gunicorn", "recovery.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
