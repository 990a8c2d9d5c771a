"""Where a redirect may go: only same-site relative paths (the views and the admin panel use it)."""

from __future__ import annotations

from urllib.parse import urlparse


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site relative paths: never an open redirect."""
    if not target:
        return default
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target
