"""The index directory's own files: the catalog and its vectors, the generation counter and
the write lock."""

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vertexcompat.search.errors import SearchIndexError
from vertexcompat.search.store import (
    CATALOG,
    GENERATION,
    Catalog,
    CatalogEntry,
    bump_generation,
    read_catalog,
    read_generation,
    read_vectors,
    write_catalog,
    write_lock,
)


def entry(doc_id: str, passages: int, *, embedded: bool = True) -> CatalogEntry:
    return CatalogEntry(doc_id=doc_id, title=f"Title {doc_id} — Größe",
                        url=f"https://x/{doc_id}", path=f"/docs/{doc_id}.md", passages=passages,
                        added="2030-01-02T03:04:05+00:00", embedded=embedded)


def test_a_missing_directory_has_no_generation_and_an_empty_catalog(tmp_path: Path) -> None:
    missing = tmp_path / "nothing"
    assert read_generation(missing) is None
    assert read_catalog(missing) == Catalog()
    assert read_catalog(missing).passage_count == 0
    assert read_vectors(missing, Catalog()) is None
    assert not missing.exists()


def test_the_generation_counts_up(tmp_path: Path) -> None:
    first = bump_generation(tmp_path)
    assert read_generation(tmp_path) == first > 0
    second = bump_generation(tmp_path)
    assert second > first and read_generation(tmp_path) == second
    (tmp_path / GENERATION).write_text(str(2**60))  # ahead of the clock: still counts up
    assert bump_generation(tmp_path) == 2**60 + 1
    assert not list(tmp_path.glob(".*tmp"))  # written aside, then renamed
    (tmp_path / GENERATION).write_text("half-writ")
    assert read_generation(tmp_path) == -1  # unreadable: readers reload


def test_a_re_created_directory_repeats_no_generation(tmp_path: Path) -> None:
    # A server that read generation N of the old directory must see the new one's as new.
    old = [bump_generation(tmp_path) for _ in range(3)]
    (tmp_path / GENERATION).unlink()
    new = bump_generation(tmp_path)
    assert new not in old and new > max(old)


def test_catalog_and_vectors_round_trip(tmp_path: Path) -> None:
    entries = [entry("a", 2), entry("b", 1, embedded=False), entry("c", 3)]
    vectors = np.arange(6 * 4, dtype=np.float64).reshape(6, 4)
    write_catalog(tmp_path, entries, "store1", vectors)
    catalog = read_catalog(tmp_path)
    assert catalog.entries == tuple(entries)
    assert (catalog.store_id, catalog.dimensions, catalog.passage_count) == ("store1", 4, 6)
    assert catalog.vectors_file is not None and (tmp_path / catalog.vectors_file).is_file()
    read = read_vectors(tmp_path, catalog)
    assert read is not None and read.dtype == np.float32
    np.testing.assert_array_equal(read, vectors.astype(np.float32))
    assert json.loads((tmp_path / CATALOG).read_text(encoding="utf-8"))["format"] == 1


def test_a_new_catalog_names_a_new_vectors_file_and_the_old_one_goes(tmp_path: Path) -> None:
    write_catalog(tmp_path, [entry("a", 1)], "s", np.ones((1, 3)))
    old = read_catalog(tmp_path).vectors_file
    write_catalog(tmp_path, [entry("a", 1), entry("b", 1)], "s", np.zeros((2, 3)))
    new = read_catalog(tmp_path).vectors_file
    assert new != old and [p.name for p in tmp_path.glob("vectors-*.npy")] == [new]
    write_catalog(tmp_path, [entry("a", 1, embedded=False)], "s", None)
    catalog = read_catalog(tmp_path)
    assert catalog.vectors_file is None and catalog.dimensions is None
    assert read_vectors(tmp_path, catalog) is None
    assert not list(tmp_path.glob("vectors-*.npy"))


def test_vectors_that_do_not_match_the_catalog_are_an_error(tmp_path: Path) -> None:
    write_catalog(tmp_path, [entry("a", 2)], "s", np.ones((2, 3)))
    catalog = read_catalog(tmp_path)
    wrong = Catalog((entry("a", 3),), "s", catalog.vectors_file, 3)
    with pytest.raises(SearchIndexError, match="2 rows for 3 passages"):
        read_vectors(tmp_path, wrong)
    (tmp_path / catalog.vectors_file).write_bytes(b"not numpy")
    with pytest.raises(SearchIndexError, match="cannot be read"):
        read_vectors(tmp_path, catalog)


@pytest.mark.parametrize(("body", "message"), [
    ("{not json", "cannot be read"),
    ('{"format": 99, "store_id": "s", "documents": []}', "format 99"),
    ('{"format": 1, "documents": []}', "damaged"),
    ('{"format": 1, "store_id": "s", "documents": [{"doc_id": "a"}]}', "damaged"),
])
def test_a_damaged_catalog_is_an_error_that_says_what_to_do(tmp_path: Path, body: str,
                                                            message: str) -> None:
    (tmp_path / CATALOG).write_text(body, encoding="utf-8")
    with pytest.raises(SearchIndexError, match=message) as caught:
        read_catalog(tmp_path)
    assert "add" in str(caught.value)


def test_the_write_lock_lets_one_writer_in_at_a_time(tmp_path: Path) -> None:
    directory = tmp_path / "new" / "index"
    with write_lock(directory):
        assert directory.is_dir()
        started = time.monotonic()
        with pytest.raises(SearchIndexError, match="another process"):
            with write_lock(directory, timeout_s=0.2):
                pass
        assert time.monotonic() - started >= 0.2
    with write_lock(directory, timeout_s=0.2):  # released
        pass


def test_a_waiting_writer_gets_the_lock_once_it_is_released(tmp_path: Path) -> None:
    order: list[str] = []
    holding = threading.Event()

    def first() -> None:
        with write_lock(tmp_path):
            holding.set()
            time.sleep(0.3)
            order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    assert holding.wait(5)
    with write_lock(tmp_path, timeout_s=5):
        order.append("second in")
    thread.join()
    assert order == ["first done", "second in"]
