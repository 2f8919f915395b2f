"""`LexicalClassifier`: the "offensive language" probability of alt-profanity-check, read as
HARASSMENT and HATE_SPEECH.

The model is a TF-IDF bag of words (English stop words removed) under a linear SVM with
Platt-calibrated probabilities, trained on ~200k human-labelled comments: the t-davidson
hate-speech/offensive-language tweets and Jigsaw's toxic Wikipedia comments. Their labels
say a comment is abusive or offensive toward someone — insults, slurs, threats, obscene
abuse — which is what Gemini's HARASSMENT (insulting, threatening, bullying a person) and
HATE_SPEECH (demeaning people for who they are; slurs are its strongest lexical signal)
mean. It rates no other category: it never saw sexual content as such (a swear word is not
SEXUALLY_EXPLICIT, nor an explicit scene in clean words offensive) nor dangerous
instructions (a bomb recipe in polite words scores nothing), so a score there would be noise.
Being lexical, it cannot tell who is insulted or why (an insult quoted in a novel's summary
scores as an insult) and does not separate harassment from hate: both get the same number.

The package (`profanity_check`) is never imported — importing it loads its models as a side
effect; its two joblib files are read from its directory, sha256-checked, and unpickled from
the verified bytes. They are pickles of scikit-learn objects, so scikit-learn and joblib are
pinned to the releases the wheel pins (1.9.1, 1.6.0).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from typing import Any

from vertexcompat.domain.safety import HarmCategory
from vertexcompat.safety.errors import SafetyModelError
from vertexcompat.embeddings.pinned import PinnedFile

# Measured on alt-profanity-check 1.9.1's wheel.
PROFANITY_VECTORIZER = PinnedFile(
    "profanity_check", "data/vectorizer.joblib",
    "19c5200dc6a41f026e0558e2f164f5fe8d8f58e502b46b37e4385037fcfa4831",
    "alt-profanity-check==1.9.1")
PROFANITY_MODEL = PinnedFile(
    "profanity_check", "data/model.joblib",
    "aeafc04849d4d93db4721cf30a86ebf22085595294b8a07d51918e7fa98f538b",
    "alt-profanity-check==1.9.1")

_CATEGORIES = frozenset({HarmCategory.HARASSMENT, HarmCategory.HATE_SPEECH})


class LexicalClassifier:
    """Offensive-language probability per text, the same for HARASSMENT and HATE_SPEECH.
    Thread-safe; the two pickles load once (lazily, or in `warm`). scikit-learn's sparse
    linear model runs on the calling thread only."""

    name = "lexical"
    categories: frozenset[HarmCategory] = _CATEGORIES

    def __init__(self, *, vectorizer: PinnedFile = PROFANITY_VECTORIZER,
                 model: PinnedFile = PROFANITY_MODEL) -> None:
        self._files = (vectorizer, model)
        self._loaded: tuple[Any, Any] | None = None
        self._lock = threading.Lock()  # guards loading only: transform/predict_proba only read

    def warm(self) -> None:
        self._load()

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._loaded is None:
                import joblib

                vectorizer_file, model_file = self._files
                loaded = []
                for pinned in (vectorizer_file, model_file):
                    data = pinned.read_verified()
                    try:
                        loaded.append(joblib.load(io.BytesIO(data)))
                    except Exception as exc:  # a pickle that the pinned scikit-learn cannot read
                        raise SafetyModelError(
                            f"Could not load {pinned.relative} of {pinned.distribution}: {exc}. "
                            "Is scikit-learn at the version pyproject.toml pins?") from exc
                self._loaded = (loaded[0], loaded[1])
            return self._loaded

    def score(self, texts: Sequence[str]) -> list[dict[HarmCategory, float]]:
        if not texts:
            return []
        vectorizer, model = self._load()
        offensive = model.predict_proba(vectorizer.transform(list(texts)))[:, 1]
        return [{c: float(p) for c in _CATEGORIES} for p in offensive]
