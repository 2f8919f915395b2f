"""The labelled exemplar texts the embedding classifier learns from, shipped in this package
as `data/exemplars.jsonl`: one JSON object a line, `{"text": …, "category":
"HARM_CATEGORY_…" | null}` (null: benign).

They were written for this purpose, red-team style: requests for and statements of each
harmful category (and openings of answers that comply, since generated candidates are judged
too), without real instructions; and many benign texts, a large part of them hard negatives
that share harm's vocabulary (killing a process, the history of wars, medication doses, sex
education, bullying prevention, chemistry homework, testing one's own server, insults quoted
in a plot summary). Add to them rather than tune numbers: `vertexcompat.safety.evaluation`
reports the cross-validated precision and recall a change gives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from vertexcompat.domain.safety import RATED_CATEGORIES, HarmCategory
from vertexcompat.safety.errors import SafetyModelError

EXEMPLARS = Path(__file__).parent / "data" / "exemplars.jsonl"


@dataclass(frozen=True, slots=True)
class Exemplar:
    text: str
    category: HarmCategory | None  # None: benign


def load_exemplars(path: Path = EXEMPLARS) -> tuple[Exemplar, ...]:
    """Every exemplar in the file, in order. Raises SafetyModelError on a malformed line or a
    category no classifier rates."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SafetyModelError(f"Safety exemplars not readable at {path}: {exc}") from exc
    exemplars = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            text, name = row["text"], row["category"]
            category = None if name is None else HarmCategory(name)
        except (ValueError, KeyError, TypeError) as exc:
            raise SafetyModelError(f"{path}:{number}: not an exemplar ({exc})") from exc
        if not isinstance(text, str) or not text.strip():
            raise SafetyModelError(f"{path}:{number}: an exemplar needs a non-empty text")
        if category is not None and category not in RATED_CATEGORIES:
            raise SafetyModelError(f"{path}:{number}: {category.value} is not a rated category")
        exemplars.append(Exemplar(text, category))
    return tuple(exemplars)
