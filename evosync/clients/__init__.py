"""HTTP clients of the outside APIs (Evotor, VK, VK ID) and the shared VK rate limiter; no Flask, no DB."""
