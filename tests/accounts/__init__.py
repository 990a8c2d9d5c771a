"""Accounts: registration, confirmation, login, throttling, reset, invites, profile, deletion, CLI, email."""
