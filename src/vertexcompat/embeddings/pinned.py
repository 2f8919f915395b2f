"""`PinnedFile`: a model file shipped as a data file inside an installed PyPI wheel, pinned by
sha256 where it is declared (the MiniLM embedder's in `minilm.py`, the safety classifiers' in
`vertexcompat.safety`). A file is located from its package's import spec without running the
package's code (`find_spec` on a top-level name imports nothing), read once, and checked
before anything parses it; the verified bytes are what gets loaded, so the file cannot change
between the check and the load.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from vertexcompat.embeddings.errors import ModelFileError


@dataclass(frozen=True, slots=True)
class PinnedFile:
    """One data file: the top-level package that ships it, its path inside that package, its
    sha256, and the pinned distribution (`name==version`) that installs it."""

    package: str
    relative: str
    sha256: str
    distribution: str

    def path(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        for location in (spec.submodule_search_locations or []) if spec else []:
            candidate = Path(location) / self.relative
            if candidate.is_file():
                return candidate
        raise ModelFileError(
            f"Model file {self.relative} of package {self.package} not found: "
            f"install it with `pip install {self.distribution}`.")

    def read_verified(self) -> bytes:
        """The file's bytes, checked against the pinned sha256."""
        path = self.path()
        data = path.read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if actual != self.sha256:
            raise ModelFileError(
                f"Checksum mismatch for {path}: sha256 {actual}, expected {self.sha256}. "
                f"Reinstall the pinned release: `pip install --force-reinstall {self.distribution}` "
                "(a new release must be re-measured and re-pinned where the file is declared).")
        return data
