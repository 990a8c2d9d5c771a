"""The WSGI entry point for gunicorn: `gunicorn wsgi:app`."""

from evosync import create_app

app = create_app()
