"""`vertexcompat index add|list|remove`, run as the operator runs it: the real command in a
subprocess, on a temporary data directory."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vertexcompat.search import LocalIndex
from vertexcompat.search.documents import document_id
from vertexcompat.search.store import read_catalog, read_vectors

REPO = Path(__file__).parents[3]
CORPUS = REPO / "tests" / "data" / "grounding"
CORPUS_FILES = sorted(p for p in CORPUS.rglob("*") if p.suffix in {".md", ".html", ".txt"})


def index(*args: str, env: dict[str, str] | None = None,
          timeout: float = 60) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("VERTEXCOMPAT_")}
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "src"), str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "vertexcompat", "index", *args],
                          capture_output=True, text=True, timeout=timeout, env=environment,
                          cwd=REPO, check=False)


def catalog_ids(data_dir: Path) -> list[str]:
    """What the index under `data_dir` holds, read in-process: for checks of what a command
    left (`index list` itself is run, and its table read, where the listing is the point)."""
    return [entry.doc_id for entry in read_catalog(data_dir / "index").entries]


def table_ids(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    assert lines[0].split() == ["ID", "TITLE", "URL", "PASSAGES", "ADDED"]
    return [line.split()[0] for line in lines[1:]]


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def test_add_list_and_remove_the_corpus(tmp_path: Path) -> None:
    added = index("add", str(CORPUS), "--no-embeddings", "--data-dir", str(tmp_path))
    assert added.returncode == 0, added.stderr
    assert added.stderr == ""
    lines = added.stdout.splitlines()
    assert len(lines) == len(CORPUS_FILES) > 30
    assert all(line.startswith("added ") and line.endswith(" passages)") for line in lines)
    aurora = document_id(CORPUS / "aurora-x3-headlamp.md")
    assert (f"added {aurora}  Aurora X3 Headlamp  "
            "https://docs.example.com/products/aurora-x3-headlamp  (1 passages)") in lines
    # The formats/ subdirectory: HTML title, a sidecar URL, a file name and a file URI.
    assert any("Glacier GC-45 Cooler  https://docs.example.com/products/glacier-cooler" in line
               for line in lines)
    tent = (CORPUS / "formats" / "ridgeback-tent.html").resolve().as_uri()
    assert any(line.endswith(f"  {tent}  (1 passages)") for line in lines)

    # The server's index is <data-dir>/index, and holds what was added.
    server = LocalIndex(tmp_path / "index", embedder=None)
    (hit,) = server.search("AX3-HL-0457", 1)
    assert (hit.doc_id, hit.title) == (aurora, "Aurora X3 Headlamp")

    listed = index("list", "--data-dir", str(tmp_path))
    assert listed.returncode == 0 and listed.stderr == ""
    assert sorted(table_ids(listed.stdout)) == sorted(document_id(p) for p in CORPUS_FILES)
    row = next(line for line in listed.stdout.splitlines() if line.startswith(aurora))
    assert "Aurora X3 Headlamp" in row and "https://docs.example.com/products/aurora-x3" in row

    removed = index("remove", aurora, "--data-dir", str(tmp_path))
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.strip() == (f"removed {aurora}  Aurora X3 Headlamp  "
                                      "https://docs.example.com/products/aurora-x3-headlamp")
    after = table_ids(index("list", "--data-dir", str(tmp_path)).stdout)
    assert aurora not in after and len(after) == len(CORPUS_FILES) - 1
    assert server.search("AX3-HL-0457", 1) == []  # seen on the next search

    # Adding a file again replaces it: still one entry.
    again = index("add", str(CORPUS / "glacier-cooler.md"), "--no-embeddings",
                  "--data-dir", str(tmp_path))
    assert again.returncode == 0 and len(again.stdout.splitlines()) == 1
    assert len(catalog_ids(tmp_path)) == len(after)


def test_removing_an_unknown_id_is_an_error_and_removes_nothing(tmp_path: Path) -> None:
    kept = write(tmp_path / "docs" / "kept.md", "# Kept\n\nThe kept document.")
    assert index("add", str(kept), "--no-embeddings", "--data-dir", str(tmp_path)).returncode == 0
    result = index("remove", document_id(kept), "unknown-id", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and "unknown-id" in result.stderr
    assert "nothing was removed" in result.stderr
    assert catalog_ids(tmp_path) == [document_id(kept)]


def test_an_empty_index_says_how_to_fill_it(tmp_path: Path) -> None:
    result = index("list", "--data-dir", str(tmp_path))
    assert result.returncode == 0 and result.stderr == ""
    assert "is empty" in result.stdout and "vertexcompat index add" in result.stdout
    assert str(tmp_path / "index") in result.stdout
    assert not (tmp_path / "index").exists()  # listing creates nothing
    missing = index("remove", "abc", "--data-dir", str(tmp_path))
    assert missing.returncode == 1 and missing.stderr.startswith("error: ")


def test_the_index_directory_from_the_environment(tmp_path: Path) -> None:
    custom = tmp_path / "custom"
    env = {"VERTEXCOMPAT_SEARCH_INDEX_DIR": str(custom),
           "VERTEXCOMPAT_DATA_DIR": str(tmp_path / "data"), "XDG_CACHE_HOME": str(tmp_path)}
    source = CORPUS / "korvath-k7-drone.md"
    result = index("add", str(source), "--no-embeddings", env=env)
    assert result.returncode == 0, result.stderr
    assert (custom / "catalog.json").is_file() and not (tmp_path / "data" / "index").exists()
    assert [e.doc_id for e in read_catalog(custom).entries] == [document_id(source)]
    assert table_ids(index("list", env=env).stdout) == [document_id(source)]
    # --data-dir does not move an index the environment places.
    listed = index("list", "--data-dir", str(tmp_path / "other"), env=env)
    assert table_ids(listed.stdout) == [document_id(source)]


def error_lines(stderr: str) -> dict[str, str]:
    """`error: PATH: reason` lines by PATH (each must be one)."""
    out = {}
    for line in stderr.splitlines():
        assert line.startswith("error: "), line
        path, _, reason = line.removeprefix("error: ").partition(": ")
        assert reason, line
        out[path] = reason
    return out


def test_bad_files_are_reported_and_the_rest_of_the_batch_is_indexed(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    good = write(docs / "good.md", "---\ntitle: Good One\n---\nThe zebra lives here.")
    write(docs / "junk.txt", bytes(range(256)) * 4)                 # binary
    write(docs / "broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog")
    write(docs / "latin1.md", "Görlitz".encode("latin-1"))
    (docs / "dangling.md").symlink_to(docs / "absent.md")
    (docs / "sub" / "folder.md").mkdir(parents=True)                # a directory, not a file
    write(docs / "sub" / "nested.txt", "The yak lives there.")
    other = write(tmp_path / "other.html", "<title>Other</title><p>The gnu.</p>")
    missing = tmp_path / "missing.md"

    folder = docs / "sub" / "folder.md"
    result = index("add", str(docs), str(missing), str(other), str(folder), "--no-embeddings",
                   "--data-dir", str(tmp_path))
    assert result.returncode == 1
    errors = error_lines(result.stderr)
    assert set(errors) == {str(docs / "junk.txt"), str(docs / "broken.pdf"),
                           str(docs / "latin1.md"), str(docs / "dangling.md"), str(missing),
                           str(folder)}
    assert "no files to index" in errors[str(folder)]
    assert "NUL bytes" in errors[str(docs / "junk.txt")]
    assert "pypdf cannot read" in errors[str(docs / "broken.pdf")]
    assert "not UTF-8" in errors[str(docs / "latin1.md")]
    assert "broken symbolic link" in errors[str(docs / "dangling.md")]
    assert errors[str(missing)] == "no such file or directory"

    indexed = [good, docs / "sub" / "nested.txt", other]
    assert sorted(catalog_ids(tmp_path)) == sorted(document_id(p) for p in indexed)
    added = result.stdout.splitlines()
    assert len(added) == 3 and any("Good One" in line for line in added)
    assert LocalIndex(tmp_path / "index", embedder=None).search("yak", 1)[0].title == "nested.txt"


def test_a_fifo_with_a_supported_name_is_refused_not_waited_on(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write(docs / "good.txt", "Plain text.")
    os.mkfifo(docs / "pipe.txt")
    result = index("add", str(docs), "--no-embeddings", "--data-dir", str(tmp_path),
                   timeout=30)
    assert result.returncode == 1
    errors = error_lines(result.stderr)
    assert list(errors) == [str(docs / "pipe.txt")] and "not a regular file" in errors[
        str(docs / "pipe.txt")]
    assert catalog_ids(tmp_path) == [document_id(docs / "good.txt")]


def test_nothing_readable_is_an_error_and_no_index(tmp_path: Path) -> None:
    result = index("add", str(tmp_path / "nope"), str(write(tmp_path / "a.docx", "x")),
                   "--no-embeddings", "--data-dir", str(tmp_path))
    assert result.returncode == 1 and result.stdout == ""
    errors = error_lines(result.stderr)
    assert errors[str(tmp_path / "nope")] == "no such file or directory"
    assert "unsupported file type '.docx'" in errors[str(tmp_path / "a.docx")]
    assert not (tmp_path / "index").exists()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="running as root: chmod 000 does not stop root reading a file "
                           "(the other unreadable cases — a FIFO, a directory named x.md, a "
                           "broken link — are covered without it)")
def test_a_file_without_read_permission(tmp_path: Path) -> None:
    secret = write(tmp_path / "docs" / "secret.md", "hidden")
    write(tmp_path / "docs" / "open.md", "visible")
    secret.chmod(0)
    try:
        result = index("add", str(tmp_path / "docs"), "--no-embeddings",
                       "--data-dir", str(tmp_path))
    finally:
        secret.chmod(0o644)
    assert result.returncode == 1
    assert "permission denied" in error_lines(result.stderr)[str(secret)]
    assert table_ids(index("list", "--data-dir", str(tmp_path)).stdout) == [
        document_id(tmp_path / "docs" / "open.md")]


def test_add_with_embeddings(tmp_path: Path) -> None:
    files = [CORPUS / "glacier-cooler.md", CORPUS / "korvath-k7-drone.md",
             CORPUS / "formats" / "ridgeback-tent.txt"]
    result = index("add", *map(str, files), "--data-dir", str(tmp_path), timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3
    directory = tmp_path / "index"
    catalog = read_catalog(directory)
    assert [e.doc_id for e in catalog.entries] == [document_id(p) for p in files]
    assert all(e.embedded for e in catalog.entries)
    vectors = read_vectors(directory, catalog)
    assert vectors is not None and vectors.shape == (catalog.passage_count, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
