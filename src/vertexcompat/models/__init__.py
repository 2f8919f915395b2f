"""Model ids and their facts (`registry.py`); imports only the domain."""
