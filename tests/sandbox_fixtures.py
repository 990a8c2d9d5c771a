"""Pytest fixtures for the sandbox emulators: one server per session, reset before every test."""

from __future__ import annotations

import pytest

from evosync.sandbox import Readings, Sandbox


@pytest.fixture(scope="session")
def sandbox_server():
    """The Evotor + VK emulators on a free 127.0.0.1 port, started once for the whole run."""
    server = Sandbox(seed=1).start()
    yield server
    server.stop()


@pytest.fixture
def readings(request) -> Readings:
    """The open VK/Evotor behaviours the sandbox follows in this test: the defaults unless parametrized
    (tests/readings.py)."""
    return getattr(request, "param", None) or Readings()


@pytest.fixture
def sandbox(sandbox_server, readings):
    """The session's sandbox with empty state, no faults, zeroed counters and fresh rate-limit windows,
    following ``readings``."""
    sandbox_server.reset()
    sandbox_server.set_readings(readings)
    yield sandbox_server
    # Leave nothing (a pushed fault, a revoked token) for a test that uses sandbox_server directly.
    sandbox_server.reset()
