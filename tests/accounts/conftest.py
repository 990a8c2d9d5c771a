"""Account tests: each test-client request starts with fresh per-request state, as under a real server."""

from __future__ import annotations

import pytest
from flask import g, request_started


@pytest.fixture(autouse=True)
def _fresh_request_globals(app):
    """The shared `app` fixture keeps one app context open for the whole test, and Flask reuses it (and `g`)
    for every test-client request. Flask-Login caches the user in `g` and Flask-Security records how the
    request was authenticated there, so without this the user of one request leaks into the next."""

    def reset(sender, **extra):
        for name in ("_login_user", "fs_authn_via", "fs_paa"):
            g.pop(name, None)

    request_started.connect(reset, app)
    yield
    request_started.disconnect(reset, app)
