"""Services: the use cases the web layer calls (model → backend, run the generation)."""
