"""Files on disk as `Document`s the index can hold: `read_document(path)` for Markdown
(`.md`, `.markdown`), plain text (`.txt`), HTML (`.html`, `.htm`) and PDF (`.pdf`, with
pypdf), and `find_documents(paths)` for the files `index add` is given (directories walked
recursively for the supported types).

A document's
- `doc_id` is derived from its resolved absolute path, so adding the same file again
  replaces it;
- `url` is the `url:` of Markdown front matter, else the first line of a sidecar file
  `<name>.url` (`guide.md.url`, or `guide.url` for every format of `guide`), else the
  `file://` URI of its path;
- `title` is the front matter's `title:`, else the HTML `<title>` (or the PDF's own title),
  else the first Markdown `# ` heading, else the file name;
- `text` is what is searched and quoted: the Markdown without its front matter, the HTML
  body's text, the PDF pages' text — line endings made `\n`.

Anything that cannot be read is a `DocumentError` naming the file and why.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from vertexcompat.search.errors import DocumentError
from vertexcompat.search.html_text import html_to_text

SUPPORTED_SUFFIXES: dict[str, str] = {
    ".md": "markdown", ".markdown": "markdown", ".txt": "text",
    ".html": "html", ".htm": "html", ".pdf": "pdf",
}
MAX_FILE_BYTES = 64 * 1024 * 1024
_MAX_TITLE_CHARS = 300

_FRONT_MATTER_OPEN = re.compile(r"\A---[ \t]*\n")
_FRONT_MATTER_CLOSE = re.compile(r"^(?:---|\.\.\.)[ \t]*$\n?", re.MULTILINE)
_FRONT_MATTER_FIELD = re.compile(r"^([A-Za-z_][\w-]*)[ \t]*:[ \t]*(.*?)[ \t]*$")
_HEADING = re.compile(r"^#[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
_ABSOLUTE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Document:
    """One file's searchable text and how to cite it."""

    doc_id: str
    title: str
    url: str
    text: str
    path: Path  # resolved, absolute


def document_id(path: Path | str) -> str:
    """The stable id of the file at `path`: 16 hex digits of the sha256 of its resolved
    absolute path."""
    resolved = str(Path(path).expanduser().resolve())
    return hashlib.sha256(resolved.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def supported_list() -> str:
    return ", ".join(SUPPORTED_SUFFIXES)


def find_documents(paths: Iterable[Path | str]) -> Iterator[Path | DocumentError]:
    """Each file to read, in order: a file as given (whatever its type: reading it says if it
    is unsupported), a directory's supported files recursively (sorted, hidden names
    skipped), and a `DocumentError` for a path that does not exist, a directory that cannot
    be listed or one with no supported file in it."""
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            yield from _walk(path)
        elif path.exists():
            yield path
        else:
            yield DocumentError(path, _missing_reason(path))


def _walk(root: Path) -> Iterator[Path | DocumentError]:
    failures: list[DocumentError] = []
    found = False

    def failed(exc: OSError) -> None:
        failures.append(DocumentError(exc.filename or root, _os_reason(exc)))

    for folder, dirs, files in os.walk(root, onerror=failed, followlinks=False):
        yield from failures
        failures.clear()
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in SUPPORTED_SUFFIXES:
                found = True
                yield Path(folder) / name
    yield from failures
    if not found and not failures:
        yield DocumentError(root, f"a directory with no files to index (supported: "
                                  f"{supported_list()})")


def read_document(path: Path | str) -> Document:
    """The document in the file at `path` (see the module docstring); a `DocumentError`
    if it cannot be indexed."""
    given = Path(path).expanduser()
    if given.is_dir():
        raise DocumentError(given, "is a directory, not a file (`vertexcompat index add` reads "
                                   "the supported files inside a directory)")
    if not given.exists():
        raise DocumentError(given, _missing_reason(given))
    if not given.is_file():
        # A FIFO would block the read until something writes to it; a device never ends.
        raise DocumentError(given, "not a regular file (a FIFO, socket or device): only "
                                   "files can be indexed")
    resolved = given.resolve()
    kind = SUPPORTED_SUFFIXES.get(resolved.suffix.lower())
    if kind is None:
        what = f"'{given.suffix}'" if given.suffix else "a file without an extension"
        raise DocumentError(given, f"unsupported file type {what} (supported: "
                                   f"{supported_list()})")
    data = _read_bytes(given)
    if kind == "pdf":
        title, text = _pdf(given, data)
        url = None
    else:
        source = _decode(given, data)
        if kind == "html":
            title, text = html_to_text(source)
            url = None
        elif kind == "markdown":
            fields, text = _front_matter(source)
            title = fields.get("title") or _first_heading(text)
            url = fields.get("url")
            if url is not None and not _ABSOLUTE_URL.match(url):
                raise DocumentError(given, f"its front matter's url {url!r} is not an absolute "
                                           "URL (write it as https://…)")
        else:
            title, text, url = None, source, None
    text = text.strip()
    if not text:
        why = ("no text could be extracted (a scanned PDF? it needs OCR first)" if kind == "pdf"
               else "it is empty (no text to index)")
        raise DocumentError(given, why)
    return Document(
        doc_id=document_id(resolved),
        title=_clean_title(title) or resolved.name,
        url=url or _sidecar_url(given) or resolved.as_uri(),
        text=text,
        path=resolved,
    )


def _missing_reason(path: Path) -> str:
    if path.is_symlink():
        return "a broken symbolic link (its target does not exist)"
    return "no such file or directory"


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied (the server's user cannot read it: check its permissions)"
    return exc.strerror or str(exc)


def _read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DocumentError(path, f"too large ({size / 2**20:.0f} MiB; at most "
                                      f"{MAX_FILE_BYTES // 2**20} MiB): split it first")
        with path.open("rb") as f:
            return f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise DocumentError(path, _os_reason(exc)) from exc


def _decode(path: Path, data: bytes) -> str:
    if b"\x00" in data:
        raise DocumentError(path, "binary data (it contains NUL bytes): not a text file, or "
                                  "text in UTF-16/32 (convert that to UTF-8)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            path, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}): "
                  "convert it to UTF-8 first, e.g. with `iconv -t UTF-8`") from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _front_matter(source: str) -> tuple[dict[str, str], str]:
    """The `key: value` fields of a leading `---` … `---` block, and the text after it.
    Values may be quoted; anything that is not a `key: value` line is ignored."""
    opening = _FRONT_MATTER_OPEN.match(source)
    if not opening:
        return {}, source
    closing = _FRONT_MATTER_CLOSE.search(source, opening.end())
    if not closing:
        return {}, source
    fields: dict[str, str] = {}
    for line in source[opening.end():closing.start()].splitlines():
        match = _FRONT_MATTER_FIELD.match(line)
        if match:
            value = match.group(2)
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            fields.setdefault(match.group(1).lower(), value.strip())
    return {k: v for k, v in fields.items() if v}, source[closing.end():]


def _first_heading(text: str) -> str | None:
    match = _HEADING.search(text)
    return match.group(1) if match else None


def _clean_title(title: str | None) -> str | None:
    if not title:
        return None
    title = _SPACES.sub(" ", title).strip()
    return title[:_MAX_TITLE_CHARS] or None


def _sidecar_url(path: Path) -> str | None:
    for sidecar in (path.with_name(path.name + ".url"), path.with_suffix(".url")):
        if not sidecar.is_file():
            continue
        try:
            lines = sidecar.read_text(encoding="utf-8-sig").strip().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise DocumentError(path, f"its URL sidecar {sidecar.name} cannot be read "
                                      f"({exc})") from exc
        url = lines[0].strip() if lines else ""
        if not _ABSOLUTE_URL.match(url):
            raise DocumentError(path, f"its URL sidecar {sidecar.name} does not start with an "
                                      "absolute URL (one line such as https://…)")
        return url
    return None


def _pdf(path: Path, data: bytes) -> tuple[str | None, str]:
    """The PDF's own title (if any) and its pages' text, pages separated by blank lines."""
    if not data.lstrip()[:5] == b"%PDF-":
        raise DocumentError(path, "not a PDF (it does not start with %PDF-)")
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise FileNotDecryptedError("a password is needed")
        metadata = reader.metadata
        title = metadata.title if metadata is not None else None
        pages = [page.extract_text() or "" for page in reader.pages]
    except FileNotDecryptedError as exc:
        raise DocumentError(path, "an encrypted PDF (a password is needed): save a decrypted "
                                  "copy and add that") from exc
    except (PyPdfError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            AssertionError, RecursionError, OSError) as exc:
        # pypdf parses untrusted bytes: a damaged file surfaces as any of these.
        raise DocumentError(path, f"a PDF pypdf cannot read ({type(exc).__name__}: {exc})") \
            from exc
    text = "\n\n".join(p.replace("\r\n", "\n").replace("\r", "\n").strip() for p in pages)
    return (title if isinstance(title, str) else None), text
