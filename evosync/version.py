"""The app version shown in /health and the footer."""

__version__ = "0.1.0"
