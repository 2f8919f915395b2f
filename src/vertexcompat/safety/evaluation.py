"""Cross-validated precision and recall of the classifiers on the shipped exemplars — the
only numbers the embedding classifier's settings and exemplars are chosen by (the held-out
evaluation set is for judging, not tuning).

`python -m vertexcompat.safety.evaluation [--seeds N]` prints, per category: precision and
recall at 0.5 (MEDIUM and above), the share of the category's exemplars at ≥ 0.75 (HIGH) and
of benign exemplars under 0.25 (NEGLIGIBLE). The embedding classifier is trained on four
fifths and judged on the rest, per seed; the lexical classifier never saw the exemplars, so
it is judged on all of them at once.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vertexcompat.domain.safety import RATED_CATEGORIES, HarmCategory
from vertexcompat.embeddings.minilm import TextEmbedder
from vertexcompat.safety.exemplars import Exemplar, load_exemplars
from vertexcompat.safety.lexical import LexicalClassifier
from vertexcompat.safety.prototypes import stratified_folds, train

FOLDS = 5


@dataclass(frozen=True, slots=True)
class CategoryReport:
    category: HarmCategory
    precision: float
    recall: float
    high: float            # share of the category's exemplars scored ≥ 0.75
    benign_negligible: float  # share of benign exemplars scored < 0.25


def report(scores: np.ndarray, labels: Sequence[HarmCategory | None],
           categories: Sequence[HarmCategory]) -> list[CategoryReport]:
    benign = np.array([label is None for label in labels])
    out = []
    for j, category in enumerate(categories):
        positive = np.array([label is category for label in labels])
        flagged = scores[:, j] >= 0.5
        hits = int((flagged & positive).sum())
        out.append(CategoryReport(
            category, precision=hits / max(int(flagged.sum()), 1),
            recall=hits / max(int(positive.sum()), 1),
            high=float((scores[positive, j] >= 0.75).mean()),
            benign_negligible=float((scores[benign, j] < 0.25).mean())))
    return out


def cross_validated_scores(x: np.ndarray, labels: Sequence[HarmCategory | None],
                           seed: int) -> np.ndarray:
    """Each exemplar's probabilities from a model trained without its fold."""
    fold_of = stratified_folds(list(labels), FOLDS, seed=1000 + seed)
    scores = np.zeros((len(labels), len(RATED_CATEGORIES)))
    for fold in range(FOLDS):
        fit = fold_of != fold
        model = train(x[fit], [label for label, keep in zip(labels, fit) if keep])
        scores[~fit] = model.probabilities(x[~fit])
    return scores


def _print(title: str, rows: list[CategoryReport]) -> None:
    print(title)
    for r in rows:
        print(f"  {r.category.value:34} precision {r.precision:.2f}  recall {r.recall:.2f}  "
              f"≥0.75 {r.high:.2f}  benign<0.25 {r.benign_negligible:.2f}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    exemplars: tuple[Exemplar, ...] = load_exemplars()
    labels = [e.category for e in exemplars]
    texts = [e.text for e in exemplars]
    counts = {c.value: labels.count(c) for c in RATED_CATEGORIES}
    print(f"{len(exemplars)} exemplars: {counts}, benign {labels.count(None)}")
    x = TextEmbedder(threads=1).embed(texts)
    for seed in range(args.seeds):
        _print(f"embedding, {FOLDS}-fold cross-validation, seed {seed}:",
               report(cross_validated_scores(x, labels, seed), labels, RATED_CATEGORIES))
    lexical = LexicalClassifier()
    order = sorted(lexical.categories, key=RATED_CATEGORIES.index)
    scores = np.array([[row[c] for c in order] for row in lexical.score(texts)])
    _print("lexical (never trained on the exemplars), all exemplars:",
           report(scores, labels, order))


if __name__ == "__main__":
    main()
