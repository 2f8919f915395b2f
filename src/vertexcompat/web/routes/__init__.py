"""Thin route modules; each exposes a `build_router()` (no module-level routers)."""
