"""Persistence: repositories behind small Protocols (service accounts and their public
keys, access-token digests, IAM-style role bindings, thought-signature keys, cachedContents)
over one state database — SQLite embedded by default (sqlite.py), PostgreSQL for many
replicas (postgres.py) — with one schema history for both (migrations.py)."""
