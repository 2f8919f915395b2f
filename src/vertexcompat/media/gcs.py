"""`gs://bucket/object` URIs, served from a local directory laid out as
`<gcs_root>/<bucket>/<object>` (SPEC §4: "resolved against a configured local object store").

The client chooses the path, so it is treated as hostile: the bucket must be a valid GCS
bucket name, the object may not contain `.`/`..` segments, empty segments, NUL or a leading
`/`, and the fully resolved path (symlinks followed) must still lie under the root. The file
is then opened without following a final symlink and must be a regular file — a FIFO or a
device would block or never end. Symlinks inside the root are the operator's business and
may be used, as long as they stay inside it.

What remains is a race between resolving and opening, which needs someone who can write
under the root; that is the operator, not a client, so it is outside the threat model.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from vertexcompat.domain.errors import InvalidArgument, PayloadTooLarge
from vertexcompat.media.limits import MediaLimits

# GCS bucket naming rules: 3–63 characters (222 with dots), lower-case letters, digits,
# '-', '_' and '.', starting and ending with a letter or digit.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")


def read_gcs_object(uri: str, *, param: str, limits: MediaLimits, max_bytes: int) -> bytes:
    """The bytes of `gs://bucket/object` from the local store. Blocking."""
    if limits.gcs_root is None:
        raise InvalidArgument(
            f"`{param}` is a gs:// URI, but this server has no local object store configured. "
            "Set VERTEXCOMPAT_MEDIA_GCS_ROOT (the `media_gcs_root` setting) to a directory "
            "laid out as <root>/<bucket>/<object>, or send the media inline as a data: URI.",
            param=param,
        )
    bucket, name = _split(uri, param=param)
    root = limits.gcs_root.resolve()
    try:
        path = (root / bucket / name).resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise _not_found(uri, param) from None
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise InvalidArgument(f"`{param}`: cannot read {uri}: {exc}.", param=param) from None
    if not path.is_relative_to(root):
        raise InvalidArgument(
            f"`{param}`: {uri} resolves outside the object store.", param=param)
    return _read_regular_file(path, uri=uri, param=param, max_bytes=max_bytes)


def _split(uri: str, *, param: str) -> tuple[str, str]:
    if uri[:5].lower() != "gs://":
        raise InvalidArgument(f"`{param}` is not a gs:// URI.", param=param)
    bucket, slash, name = uri[5:].partition("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise InvalidArgument(f"`{param}`: {bucket!r} is not a valid bucket name.", param=param)
    if not slash or not name:
        raise InvalidArgument(f"`{param}` must name an object: gs://bucket/object.", param=param)
    segments = name.split("/")
    if "\x00" in name or any(s in ("", ".", "..") for s in segments):
        raise InvalidArgument(
            f"`{param}`: the object name {name!r} has an empty, '.' or '..' path segment.",
            param=param,
        )
    return bucket, name


def _read_regular_file(path: Path, *, uri: str, param: str, max_bytes: int) -> bytes:
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise _not_found(uri, param) from None
    except OSError as exc:
        raise InvalidArgument(f"`{param}`: cannot read {uri}: {exc.strerror}.",
                              param=param) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InvalidArgument(f"`{param}`: {uri} is not a file.", param=param)
        if info.st_size > max_bytes:
            raise PayloadTooLarge(
                f"The object {uri} in `{param}` is {info.st_size} bytes; "
                f"the limit is {max_bytes} bytes.",
                param=param,
            )
        # Read one byte past the limit: a file that grew since fstat is still caught.
        with os.fdopen(os.dup(fd), "rb") as file:
            data = file.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"The object {uri} in `{param}` exceeds the limit of {max_bytes} bytes.", param=param)
    return data


def _not_found(uri: str, param: str) -> InvalidArgument:
    return InvalidArgument(f"`{param}`: {uri} was not found in the object store.", param=param)
