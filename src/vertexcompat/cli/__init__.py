"""The `vertexcompat` command line: `serve`, `models list`, `auth ...`."""
