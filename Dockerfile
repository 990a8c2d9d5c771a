# EvoSync web, worker and scheduler image.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 EVOSYNC_ENV=production

RUN useradd --create-home --uid 1000 evosync
WORKDIR /app

COPY requirements.txt constraints.txt ./
RUN pip install -r requirements.txt

COPY --chown=evosync:evosync evosync ./evosync
COPY --chown=evosync:evosync migrations ./migrations
COPY --chown=evosync:evosync wsgi.py worker.py scheduler.py ./

USER evosync
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-", "wsgi:app"]
