"""Issue 21: every reader and writer of state goes through the configured store
(`open_state_database(settings.store_url, …)`), so a deployment on PostgreSQL has no
command or module still writing the data dir's SQLite file."""

from __future__ import annotations

import re
from pathlib import Path

import vertexcompat

SRC = Path(vertexcompat.__file__).parent
# Ways to open a state database other than the URL: only store/ may use them.
DIRECT = re.compile(r"\bopen_database\(|\bsqlite3\.connect\(|\bDatabase\(|"
                    r"\bpsycopg\.connect\(|\bPostgresDatabase\(")


def test_only_the_store_package_opens_a_database_directly() -> None:
    offenders = [
        f"{path.relative_to(SRC)}:{n}: {line.strip()}"
        for path in sorted(SRC.rglob("*.py"))
        if path.relative_to(SRC).parts[0] != "store"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if DIRECT.search(line)
    ]
    assert not offenders, "open the configured store (open_state_database) instead:\n" + \
        "\n".join(offenders)
