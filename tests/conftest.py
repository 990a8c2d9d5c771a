"""Shared fixtures: the app, its clients, the database and the sandbox emulators."""

pytest_plugins = ["tests.sandbox_fixtures"]
