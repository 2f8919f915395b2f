"""The HTTP layer: `create_app(container)`, routes, and the one place errors become HTTP."""
