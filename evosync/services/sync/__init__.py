"""The sync engine: plan (pure) -> apply (VK) -> runs (history); entry points in runner."""
