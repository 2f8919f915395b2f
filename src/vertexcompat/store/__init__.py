"""Persistence: SQLite repositories behind small Protocols (service accounts and their
public keys, access-token digests, IAM-style role bindings)."""
