"""Flask CLI commands; each is thin and calls one service."""

from __future__ import annotations

from flask import Flask


def register_cli(app: Flask) -> None:
    """Command groups are added here as their services land."""
