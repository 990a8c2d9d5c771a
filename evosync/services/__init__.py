"""Business logic, one module per domain; called by views, admin, jobs, CLI and tests alike."""
