"""`python -m vertexcompat` runs the same CLI as the `vertexcompat` script."""

from vertexcompat.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
