"""Background jobs: thin wrappers that take ids and call one service."""
