# EvoSync web, worker and scheduler image: code owned by root and read-only to the app user, state in its home.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    EVOSYNC_ENV=production FLASK_APP=evosync \
    EVOSYNC_INSTANCE_PATH=/home/evosync/instance

RUN useradd --create-home --uid 1000 evosync
WORKDIR /app

COPY requirements.txt constraints.txt ./
RUN pip install -r requirements.txt

# No --chown: the code stays root's, and the app user can read it but not change it.
COPY evosync ./evosync
COPY migrations ./migrations
COPY wsgi.py worker.py scheduler.py ./

USER evosync
RUN mkdir -p "$EVOSYNC_INSTANCE_PATH"
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s CMD ["python", "-m", "evosync.healthcheck", "web"]
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-", "wsgi:app"]
