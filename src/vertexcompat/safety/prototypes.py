"""`EmbeddingClassifier`: all four rated categories from sentence embeddings
(`vertexcompat.embeddings.TextEmbedder`), by a kernel machine over labelled exemplar texts —
every exemplar is a prototype a text is compared with, and its learned weight says how much
being near it counts for each category.

Trained when it loads, from `data/exemplars.jsonl` (`exemplars.py`). Given an
`EmbeddingCache` (the server's is under its data dir), the exemplars' embeddings are read
from it once an earlier process kept them; the training itself (~0.1 s) runs every time.
For each category, one-vs-rest: its exemplars are the positives (+1), every other
exemplar (benign and the other categories') a negative (-1), so a category's score says "this
kind of harm", not "some harm". The model is kernel ridge regression on the unit-length
embeddings with an RBF kernel, exp(-||a-b||²) = exp(-2(1 - cos)) (gamma 1: scikit-learn's
"scale" for these vectors), ridge 0.1; its decision value becomes a probability by Platt
scaling fitted on 5-fold cross-validated decision values (with Platt's smoothed targets), so
a probability is how often exemplars at that decision value really were of the category.
Kernel ridge and an RBF SVM (C 4) gave the same cross-validated precision and recall; ridge
needs only numpy, and scikit-learn's import alone would cost 0.6 s of the load.

Everything is numpy on the calling thread: products go through `numpy.einsum` (its own
loops; BLAS would start a thread per core beside llama.cpp), the ridge systems are solved by
conjugate gradients (the kernel matrix plus the ridge is well conditioned, ~50 iterations).
Measured on this machine (2 cores, EPYC): embedding the ~770 exemplars takes ~1.8 s of a
~2.3 s load (without a cache, or the first time); training ~0.1 s.

A text longer than about 250 characters is judged whole (its first 256 tokens) and in
windows of about 250 characters cut at sentence ends — a few sentences, the length of the
exemplars — and the highest probability per category is kept, so a harmful paragraph inside a
long answer is not averaged away. (Shorter windows lose the context that makes a history
lesson about killings benign; longer ones dilute a harmful paragraph.) An empty or blank text
scores 0 without running the model.

What it cannot do: the embedding captures topic and register better than intent, so the
hardest cases are pairs like "get into my own car" / "into a car that isn't mine". The
cross-validated numbers are reported by `vertexcompat.safety.evaluation`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vertexcompat.domain.safety import RATED_CATEGORIES, HarmCategory
from vertexcompat.embeddings.cache import EmbeddingCache
from vertexcompat.embeddings.minilm import TextEmbedder
from vertexcompat.safety.errors import SafetyModelError
from vertexcompat.safety.exemplars import EXEMPLARS, Exemplar, load_exemplars

GAMMA = 1.0
RIDGE = 0.1
CALIBRATION_FOLDS = 5
WINDOW_CHARS = 250
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")


def _dots(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b.T by einsum's own loops (single-threaded), float64."""
    return np.einsum("id,jd->ij", a, b, optimize=False).astype(np.float64)


def rbf_kernel(a: np.ndarray, b: np.ndarray, gamma: float = GAMMA) -> np.ndarray:
    squared = (a * a).sum(axis=1)[:, np.newaxis] + (b * b).sum(axis=1) - 2.0 * _dots(a, b)
    return np.exp(-gamma * np.maximum(squared, 0.0))


def solve_ridge(kernel: np.ndarray, targets: np.ndarray, ridge: float = RIDGE) -> np.ndarray:
    """(kernel + ridge·I)⁻¹ targets for every target column, by conjugate gradients."""
    system = kernel + ridge * np.eye(len(kernel))
    x = np.zeros_like(targets)
    residual = targets.copy()
    direction = residual.copy()
    rs = (residual * residual).sum(axis=0)
    stop = 1e-10 * max(float(rs.max()), 1e-300)
    for _ in range(10 * len(system)):
        if rs.max() <= stop:
            break
        # rows of the system against rows of direction.T: einsum's fast, contiguous pattern
        step = np.einsum("ij,kj->ik", system, np.ascontiguousarray(direction.T), optimize=False)
        alpha = rs / np.maximum((direction * step).sum(axis=0), 1e-300)
        x += alpha * direction
        residual -= alpha * step
        new_rs = (residual * residual).sum(axis=0)
        direction = residual + (new_rs / np.maximum(rs, 1e-300)) * direction
        rs = new_rs
    return x


def platt(decisions: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """Platt's sigmoid p = 1/(1+exp(-(slope·d + offset))) fitted by Newton's method, with his
    smoothed targets ((N₊+1)/(N₊+2), 1/(N₋+2)) so a separable set does not give 0 and 1."""
    n_pos = float(positive.sum())
    n_neg = float(len(positive) - n_pos)
    target = np.where(positive, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    slope, offset = 1.0, 0.0
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(slope * decisions + offset, -50, 50)))
        w = np.maximum(p * (1 - p), 1e-12)
        g_slope, g_offset = ((p - target) * decisions).sum(), (p - target).sum()
        h_ss = (w * decisions * decisions).sum() + 1e-9
        h_so = (w * decisions).sum()
        h_oo = w.sum() + 1e-9
        det = h_ss * h_oo - h_so * h_so
        d_slope = (h_oo * g_slope - h_so * g_offset) / det
        d_offset = (h_ss * g_offset - h_so * g_slope) / det
        slope, offset = slope - d_slope, offset - d_offset
        if max(abs(d_slope), abs(d_offset)) < 1e-10:
            break
    return float(slope), float(offset)


def stratified_folds(labels: Sequence[object], folds: int, seed: int = 0) -> np.ndarray:
    """A fold number per item, each label spread evenly over the folds (deterministic)."""
    rng = np.random.default_rng(seed)
    assignment = np.zeros(len(labels), dtype=np.int64)
    for label in dict.fromkeys(labels):
        members = np.array([i for i, item in enumerate(labels) if item == label])
        members = members[rng.permutation(len(members))]
        assignment[members] = np.arange(len(members)) % folds
    return assignment


@dataclass(frozen=True, slots=True)
class KernelModel:
    """The trained classifier, numpy arrays only (read-only after training: thread-safe)."""

    categories: tuple[HarmCategory, ...]
    prototypes: np.ndarray   # (n, d) float32: the exemplars' embeddings
    weights: np.ndarray      # (n, c) float64: each exemplar's weight per category
    slopes: np.ndarray       # (c,) Platt
    offsets: np.ndarray      # (c,) Platt

    def decisions(self, x: np.ndarray) -> np.ndarray:
        return np.einsum("nk,kc->nc", rbf_kernel(x, self.prototypes), self.weights,
                         optimize=False)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(len(x), c): each category's probability for each embedding."""
        z = np.clip(self.slopes * self.decisions(x) + self.offsets, -50.0, 50.0)
        return 1.0 / (1.0 + np.exp(-z))


def train(x: np.ndarray, labels: Sequence[HarmCategory | None],
          categories: Sequence[HarmCategory] = RATED_CATEGORIES) -> KernelModel:
    """The classifier for `categories` from embeddings `x` and their labels (None: benign)."""
    labels = list(labels)
    positive = np.array([[label is c for c in categories] for label in labels], dtype=bool)
    for j, category in enumerate(categories):
        if positive[:, j].sum() < 2 * CALIBRATION_FOLDS:
            raise SafetyModelError(
                f"Too few exemplars of {category.value} to train on ({int(positive[:, j].sum())}).")
    targets = np.where(positive, 1.0, -1.0)
    kernel = rbf_kernel(x, x)
    held_out = np.zeros_like(targets)
    fold_of = stratified_folds(labels, CALIBRATION_FOLDS)
    for fold in range(CALIBRATION_FOLDS):
        test, fit = fold_of == fold, fold_of != fold
        weights = solve_ridge(kernel[np.ix_(fit, fit)], targets[fit])
        held_out[test] = np.einsum("ik,kc->ic", kernel[np.ix_(test, fit)], weights,
                                   optimize=False)
    calibration = [platt(held_out[:, j], positive[:, j]) for j in range(len(categories))]
    return KernelModel(
        categories=tuple(categories),
        prototypes=np.ascontiguousarray(x, dtype=np.float32),
        weights=solve_ridge(kernel, targets),
        slopes=np.array([s for s, _ in calibration]),
        offsets=np.array([o for _, o in calibration]))


def views(text: str) -> list[str]:
    """What is judged of a text: itself, and its windows when it has more than one."""
    pieces = windows(text)
    return pieces if len(pieces) == 1 else [text.strip(), *pieces]


def windows(text: str, limit: int = WINDOW_CHARS) -> list[str]:
    """The text cut at sentence ends (or, for a longer sentence, at spaces or anywhere) into
    pieces of at most about `limit` characters; [text] when it is short."""
    text = text.strip()
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        while len(sentence) > limit:
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            pieces.append(sentence[:cut])
            sentence = sentence[cut:].lstrip()
        if sentence:
            pieces.append(sentence)
    out: list[str] = []
    for piece in pieces:
        if out and len(out[-1]) + 1 + len(piece) <= limit:
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


class EmbeddingClassifier:
    """HARASSMENT, HATE_SPEECH, SEXUALLY_EXPLICIT and DANGEROUS_CONTENT probabilities from
    `embedder`'s sentence embeddings (shared: the embedder is generic). Trains on first use
    (or in `warm`); thread-safe. With a `cache`, the exemplars' embeddings come from it
    when it has them."""

    name = "embedding"
    categories: frozenset[HarmCategory] = frozenset(RATED_CATEGORIES)

    def __init__(self, embedder: TextEmbedder, *, exemplars: Path = EXEMPLARS,
                 cache: EmbeddingCache | None = None) -> None:
        self._embedder = embedder
        self._exemplars = exemplars
        self._cache = cache
        self._model: KernelModel | None = None
        self._lock = threading.Lock()  # guards training only: the model is read-only after

    def warm(self) -> None:
        self._load()
        # Scoring embeds every text: load the model now even when the cache had the
        # exemplars (and a model file that does not match its pin fails here, not later).
        self._embedder.warm()

    def _load(self) -> KernelModel:
        with self._lock:
            if self._model is None:
                examples: tuple[Exemplar, ...] = load_exemplars(self._exemplars)
                texts = [e.text for e in examples]
                x = (self._cache.embed(self._embedder, texts) if self._cache is not None
                     else self._embedder.embed(texts))
                self._model = train(x, [e.category for e in examples])
            return self._model

    def score(self, texts: Sequence[str]) -> list[dict[HarmCategory, float]]:
        model = self._load()
        owners: list[int] = []
        pieces: list[str] = []
        for index, text in enumerate(texts):
            if text.strip():
                for piece in views(text):
                    owners.append(index)
                    pieces.append(piece)
        best = np.zeros((len(texts), len(model.categories)), dtype=np.float64)
        if pieces:
            np.maximum.at(best, np.array(owners), model.probabilities(self._embedder.embed(pieces)))
        return [dict(zip(model.categories, map(float, row))) for row in best]
