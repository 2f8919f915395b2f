"""The cached contents table: kept across reopening, expired rows invisible at once and
swept, listing by project and location in name order with pages."""

from vertexcompat.store.cached_contents import CachedContentRecord, SqliteCachedContents
from vertexcompat.store.sqlite import open_database


def record(name: str, *, project="p", location="l", expires_at=100.0) -> CachedContentRecord:
    return CachedContentRecord(
        name=f"projects/{project}/locations/{location}/cachedContents/{name}", project=project,
        location=location, model="gemini-2.5-flash", display_name="", body='{"contents":[]}',
        total_tokens=1500, created_at=1.0, updated_at=1.0, expires_at=expires_at,
    )


def test_kept_across_reopening_and_gone_once_expired(tmp_path):
    db = open_database(tmp_path)
    SqliteCachedContents(db).add(record("1"))
    db.close()
    db = open_database(tmp_path)
    store = SqliteCachedContents(db)
    name = record("1").name
    assert store.get(name, now=50) == record("1")
    assert store.get(name, now=100) is None  # expired: invisible before any sweep
    assert store.set_expiry(name, 500, now=100) is None
    assert store.delete(name, now=100) is False
    assert store.delete_expired(now=100) == [(name, record("1").model)]
    db.close()


def test_listing_is_per_project_and_location_in_pages(tmp_path):
    db = open_database(tmp_path)
    store = SqliteCachedContents(db)
    for r in (record("3"), record("1"), record("2"), record("9", project="q"),
              record("8", location="m"), record("7", expires_at=10)):
        store.add(r)
    first = store.list("p", "l", now=50, after="", limit=2)
    assert [r.name[-1] for r in first] == ["1", "2"]
    rest = store.list("p", "l", now=50, after=first[-1].name, limit=2)
    assert [r.name[-1] for r in rest] == ["3"]
    updated = store.set_expiry(record("2").name, 900, now=60)
    assert updated is not None and updated.expires_at == 900 and updated.updated_at == 60
    assert store.delete(record("3").name, now=60)
    db.close()
