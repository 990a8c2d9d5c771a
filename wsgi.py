"""The WSGI entry point for gunicorn: `gunicorn wsgi:app`."""

from evosync import create_app_or_exit

app = create_app_or_exit()
