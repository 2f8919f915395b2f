"""The cached contents table, on both databases: kept across reopening, expired rows
invisible at once and swept, listing by project and location in name order with pages."""

from vertexcompat.store.cached_contents import CachedContentRecord, SqlCachedContents

from .conftest import State


def record(name: str, *, project="p", location="l", expires_at=100.0) -> CachedContentRecord:
    return CachedContentRecord(
        name=f"projects/{project}/locations/{location}/cachedContents/{name}", project=project,
        location=location, model="gemini-2.5-flash", display_name="", body='{"contents":[]}',
        total_tokens=1500, created_at=1.0, updated_at=1.0, expires_at=expires_at,
    )


def test_kept_across_reopening_and_gone_once_expired(state: State) -> None:
    db = state.open()
    SqlCachedContents(db).add(record("1"))
    db.close()
    store = SqlCachedContents(state.open())
    name = record("1").name
    assert store.get(name, now=50) == record("1")
    assert store.get(name, now=100) is None  # expired: invisible before any sweep
    assert store.set_expiry(name, 500, now=100) is None
    assert store.delete(name, now=100) is False
    assert store.delete_expired(now=100) == [(name, record("1").model)]


def test_listing_is_per_project_and_location_in_pages(state: State) -> None:
    store = SqlCachedContents(state.open())
    for r in (record("3"), record("1"), record("2"), record("9", project="q"),
              record("8", location="m"), record("7", expires_at=10)):
        store.add(r)
    first = store.list("p", "l", now=50, after="", limit=2)
    assert [r.name[-1] for r in first] == ["1", "2"]
    rest = store.list("p", "l", now=50, after=first[-1].name, limit=2)
    assert [r.name[-1] for r in rest] == ["3"]
    updated = store.set_expiry(record("2").name, 900, now=60.5)
    assert updated is not None and updated.expires_at == 900 and updated.updated_at == 60.5
    assert store.delete(record("3").name, now=60)
    assert store.get(record("2").name, now=899.25) == updated


def test_a_cache_made_through_one_replica_is_found_by_another(state: State) -> None:
    a, b = SqlCachedContents(state.open()), SqlCachedContents(state.open())
    a.add(record("1"))
    assert b.get(record("1").name, now=50) == record("1")
    assert b.delete(record("1").name, now=50)
    assert a.get(record("1").name, now=50) is None
