"""Files → Documents: each reader, titles and URLs (front matter, sidecar, file URI), stable
ids, directory walking, and every reason a file cannot be indexed."""

import os
from pathlib import Path

import pytest

from tests.unit.search.pdf import minimal_pdf
from vertexcompat.search import DocumentError, find_documents, read_document
from vertexcompat.search.documents import MAX_FILE_BYTES, document_id
from vertexcompat.search.html_text import html_to_text

CORPUS = Path(__file__).parents[2] / "data" / "grounding"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_markdown_front_matter_gives_title_and_url_and_is_not_text(tmp_path: Path) -> None:
    path = write(tmp_path / "k7.md", "---\ntitle: \"Korvath K7\"\nurl: https://docs.example.com/"
                 "products/k7\nauthor: x\n---\n\n# Another heading\n\nThe K7 weighs 1.84 kg.\n")
    document = read_document(path)
    assert document.title == "Korvath K7"
    assert document.url == "https://docs.example.com/products/k7"
    assert document.text == "# Another heading\n\nThe K7 weighs 1.84 kg."
    assert document.path == path.resolve() and document.path.is_absolute()


def test_the_first_heading_is_the_title_and_the_file_uri_the_url(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.md", "Intro line.\r\n\r\n# Zephyrine ZF-9 #\r\n\r\nQuiet fan.")
    document = read_document(path)
    assert document.title == "Zephyrine ZF-9"
    assert document.url == path.resolve().as_uri() and document.url.startswith("file:///")
    assert "\r" not in document.text


def test_plain_text_is_titled_by_its_file_name(tmp_path: Path) -> None:
    document = read_document(write(tmp_path / "specs.txt", "\ufeffThe NR-3 reads 0.2 mm.\n"))
    assert (document.title, document.text) == ("specs.txt", "The NR-3 reads 0.2 mm.")


@pytest.mark.parametrize("sidecar", ["page.txt.url", "page.url"])
def test_a_sidecar_file_gives_the_url(tmp_path: Path, sidecar: str) -> None:
    write(tmp_path / sidecar, "https://docs.example.com/page\n")
    assert read_document(write(tmp_path / "page.txt", "text")).url == \
        "https://docs.example.com/page"


def test_front_matter_url_wins_over_a_sidecar(tmp_path: Path) -> None:
    write(tmp_path / "a.url", "https://sidecar.example.com/a")
    document = read_document(write(tmp_path / "a.md", "---\nurl: https://fm.example.com/a\n---\nx"))
    assert document.url == "https://fm.example.com/a"


def test_the_id_is_stable_and_follows_the_resolved_path(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "dir" / "a.md", "one")
    first = read_document(path)
    write(path, "two")
    monkeypatch.chdir(tmp_path / "dir")
    again = read_document(Path("../dir/a.md"))
    assert again.doc_id == first.doc_id == document_id(path)
    assert again.text == "two"
    assert read_document(write(tmp_path / "b.md", "one")).doc_id != first.doc_id


def test_html_title_and_body_text_without_scripts_or_styles() -> None:
    title, text = html_to_text(
        "<html><head><title> Glacier\n GC-45 </title><style>p {color: red}</style>"
        "<script>var hidden = 1;</script></head><body><nav>Home</nav>"
        "<h1>Glacier &amp; Co</h1><p>Keeps ice for\n  9&nbsp;days.</p>"
        "<p>Line one<br>line two</p><script>also hidden</script>"
        "<ul><li>45 L</li><li>32 &deg;C</li></ul><svg><title>icon</title></svg></body></html>")
    assert title == "Glacier GC-45"
    assert text == ("Home\n\nGlacier & Co\n\nKeeps ice for 9 days.\n\nLine one\nline two\n\n"
                    "45 L\n\n32 °C")


def test_the_corpus_html_and_text_versions(tmp_path: Path) -> None:
    html = read_document(CORPUS / "formats" / "glacier-cooler.html")
    assert html.title == "Glacier GC-45 Cooler"
    assert html.url == "https://docs.example.com/products/glacier-cooler"  # glacier-cooler.url
    assert "it kept ice for 9 days" in html.text and "analytics" not in html.text
    text = read_document(CORPUS / "formats" / "ridgeback-tent.txt")
    assert text.url == "https://docs.example.com/products/ridgeback-tent"  # .txt.url sidecar
    assert text.title == "ridgeback-tent.txt" and "$429" in text.text
    assert read_document(CORPUS / "formats" / "ridgeback-tent.html").url.startswith("file://")


def test_the_corpus_markdown_keeps_its_non_ascii_text() -> None:
    document = read_document(CORPUS / "kumo-rice-cooker.md")
    assert document.title == "Kumo 雲 KR-10 Rice Cooker"
    assert document.url == "https://docs.example.com/products/kumo-rice-cooker"
    assert "山田花子 (Hanako Yamada)" in document.text


def test_pdf_text_and_its_own_title(tmp_path: Path) -> None:
    path = write(tmp_path / "manual.pdf", minimal_pdf(["The Qorvin Z8 weighs 7.5 kg.",
                                                        "Made in (old) Tallinn."],
                                                       title="Qorvin Z8 Manual"))
    document = read_document(path)
    assert document.title == "Qorvin Z8 Manual"
    assert "The Qorvin Z8 weighs 7.5 kg." in document.text
    assert "Made in (old) Tallinn." in document.text
    untitled = read_document(write(tmp_path / "plain.PDF", minimal_pdf(["Text."])))
    assert untitled.title == "plain.PDF"


def reason(path: Path | str) -> str:
    with pytest.raises(DocumentError) as caught:
        read_document(path)
    assert str(caught.value).startswith(f"{caught.value.path}: ")
    return caught.value.reason


def test_every_reason_a_file_cannot_be_read(tmp_path: Path) -> None:
    assert reason(tmp_path / "absent.md") == "no such file or directory"
    assert "is a directory" in reason(tmp_path)
    assert "unsupported file type '.docx'" in reason(write(tmp_path / "a.docx", "x"))
    assert ".md" in reason(write(tmp_path / "a.docx", "x"))
    assert "without an extension" in reason(write(tmp_path / "README", "x"))
    assert "NUL bytes" in reason(write(tmp_path / "blob.txt", b"ab\x00cd"))
    latin1 = reason(write(tmp_path / "latin1.md", "Görlitz".encode("latin-1")))
    assert "not UTF-8" in latin1 and "0xf6" in latin1 and "offset 1" in latin1
    assert "empty" in reason(write(tmp_path / "blank.md", " \n\n\t\n"))
    assert "empty" in reason(write(tmp_path / "only-fm.md", "---\ntitle: T\n---\n\n"))
    assert "empty" in reason(write(tmp_path / "empty.html", "<html><script>x()</script></html>"))
    assert "not a PDF" in reason(write(tmp_path / "fake.pdf", "hello"))
    broken = reason(write(tmp_path / "broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog"))
    assert "pypdf cannot read" in broken
    assert "no text could be extracted" in reason(write(tmp_path / "blank.pdf", minimal_pdf([])))
    assert "absolute URL" in reason(write(tmp_path / "rel.md", "---\nurl: /docs/x\n---\nx"))
    write(tmp_path / "s.url", "\n")
    assert "sidecar s.url" in reason(write(tmp_path / "s.md", "x"))


def test_a_file_that_cannot_be_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "secret.md", "x")
    real_open = Path.open

    def refuse(self: Path, *args, **kwargs):  # chmod 000 does not stop root
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    assert "permission denied" in reason(path)


def test_a_file_too_large_to_index(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing is written
    assert "too large" in reason(path) and "split it first" in reason(path)


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.md")
    assert "not a regular file" in reason(tmp_path / "pipe.md")
    (tmp_path / "link.txt").symlink_to(tmp_path / "pipe.md")
    assert "not a regular file" in reason(tmp_path / "link.txt")
    assert [p for p in find_documents([tmp_path]) if isinstance(p, Path)] == [
        tmp_path / "link.txt", tmp_path / "pipe.md"]


def test_find_documents_walks_directories_for_supported_files(tmp_path: Path) -> None:
    write(tmp_path / "d" / "b.md", "b")
    write(tmp_path / "d" / "a" / "z.html", "<p>z</p>")
    write(tmp_path / "d" / "a" / "y.pdf", b"%PDF")
    write(tmp_path / "d" / "skip.docx", "x")
    write(tmp_path / "d" / "b.md.url", "https://x.example.com")
    write(tmp_path / "d" / ".hidden.md", "x")
    write(tmp_path / "d" / ".git" / "c.md", "x")
    write(tmp_path / "e.docx", "given explicitly: read, and refused there")
    (tmp_path / "empty").mkdir()
    found = list(find_documents([tmp_path / "d", tmp_path / "e.docx", tmp_path / "missing",
                                 tmp_path / "empty"]))
    paths = [f for f in found if isinstance(f, Path)]
    errors = [f for f in found if isinstance(f, DocumentError)]
    # A directory's own files (sorted), then its subdirectories' (sorted), then the next path.
    assert paths == [tmp_path / "d" / "b.md", tmp_path / "d" / "a" / "y.pdf",
                     tmp_path / "d" / "a" / "z.html", tmp_path / "e.docx"]
    assert [(e.path, e.reason) for e in errors][0] == (tmp_path / "missing",
                                                        "no such file or directory")
    assert errors[1].path == tmp_path / "empty" and "no files to index" in errors[1].reason
