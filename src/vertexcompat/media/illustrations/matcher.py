"""`IllustrationMatcher`: an object's name as the model wrote it ("two red cars", "cup of
coffee", "kitten") → the illustration that shows it, or None (the composer then draws a
plain shape).

In order, first hit wins:
1. the keyword table (keywords.py) on the whole phrase, then on its nouns, head first;
2. a Unicode name equal to the phrase or to its head noun;
3. a Unicode name holding the head noun as a word, the fewest other words first (a
   colour the phrase names breaks ties: "green apple");
4. with an embedder (the int8 MiniLM), the name nearest in meaning to the phrase, when it
   is near enough (`min_similarity`) — for nouns no name spells ("puppy dog", "sedan").
   All the library's names are embedded once (~2.7 s of CPU); the server passes an
   `embed_names` that keeps their vectors on disk across restarts.

Plurals are reduced by a few English rules; nothing here knows the model or the scene.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vertexcompat.media.illustrations.keywords import KEYWORDS
from vertexcompat.media.illustrations.library import Illustration, IllustrationLibrary

# Words that say nothing about what the object is.
_STOP_WORDS = frozenset("""
    a an the one two three four five six some many few several of with and on in at to
    small big large little tiny huge tall short old new young cute happy sad pretty
    beautiful shiny bright dark light wooden wood metal plastic glass paper round square
    flying running sitting standing sleeping eating playing jumping swimming walking
    red green blue yellow orange purple pink brown black white gray grey gold silver
""".split()) - {"orange", "glass", "wood", "light", "square"}
_COLOURS = frozenset(
    "red green blue yellow orange purple pink brown black white gray grey gold silver".split()
)
# Names of these kinds are rarely what an everyday noun means.
_UNLIKELY = frozenset("sign symbol face button mark emoji oclock".split())
_IRREGULAR = {
    "mice": "mouse", "geese": "goose", "people": "person", "children": "child",
    "men": "man", "women": "woman", "feet": "foot", "teeth": "tooth", "leaves": "leaf",
    "knives": "knife", "wolves": "wolf", "loaves": "loaf", "sheep": "sheep", "fish": "fish",
    "glasses": "glasses", "scissors": "scissors", "fries": "fries", "headphones": "headphone",
    "sunglasses": "sunglasses", "bus": "bus", "grass": "grass", "cactus": "cactus",
    "octopus": "octopus", "dress": "dress", "class": "class", "christmas": "christmas",
}
_WORD = re.compile(r"[a-z][a-z'-]*")
DEFAULT_MIN_SIMILARITY = 0.6
# Words of a request that are never things to draw: colours (adjectives far more often
# than the fruit), the scene's own parts, and verbs of asking.
_NOT_THINGS = _COLOURS | frozenset("""
    sky background ground floor image picture drawing photo illustration scene draw
    generate create make show paint light watch top back end up
""".split())
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
            "pair": 2, "couple": 2}


@dataclass(frozen=True, slots=True)
class Mention:
    """A thing a request names: the words, its illustration, count and colour word."""

    name: str
    illustration: Illustration
    count: int = 1
    colour: str | None = None


Embed = Callable[[Sequence[str]], Any]  # texts → unit-length vectors (numpy rows)


@dataclass(frozen=True, slots=True)
class Match:
    """`how`: "keyword", "name", "word" or "embedding"; `score`: cosine similarity for an
    embedding match, else 1."""

    illustration: Illustration
    how: str
    score: float = 1.0


def singular(word: str) -> str:
    """A few English plural rules; good enough for nouns of everyday things."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 3 or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses", "oes")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


def nouns(phrase: str) -> tuple[str, list[str]]:
    """(the phrase normalised, its content words singular with the head noun first).
    "two red cars" → ("car", ["car"]); "cup of coffee" → ("cup of coffee",
    ["coffee", "cup"])."""
    words = [singular(w) for w in _WORD.findall(phrase.lower())]
    content = [w for w in words if w not in _STOP_WORDS]
    if not content:
        return "", []
    normal = " ".join(words[next(i for i, w in enumerate(words) if w not in _STOP_WORDS):])
    # "cup of coffee": the thing shown is what follows "of"; otherwise the last word.
    if "of" in words[:-1]:
        after = [w for w in words[words.index("of") + 1:] if w not in _STOP_WORDS]
        before = [w for w in words[:words.index("of")] if w not in _STOP_WORDS]
        ordered = after[::-1] + before[::-1]
    else:
        ordered = content[::-1]
    return normal, list(dict.fromkeys(ordered))


def _names_the_thing(words: tuple[str, ...], head: str) -> bool:
    """`head` is what the name shows: its last word, the word before a "with" clause
    ("house with garden") or before a last "face" ("hamster face") — not a modifier ("table tennis paddle and ball")."""
    if head not in words:
        return False
    at = words.index(head)
    return at == len(words) - 1 or words[at + 1] == "with" or words[at + 1:] == ("face",)


class IllustrationMatcher:
    """Matches names against one library. Thread-safe; the embeddings of the library's
    names are computed once, on the first phrase that needs them: by `embed_names` when
    given (the same vectors as `embed`'s, from wherever it keeps them: the server's are
    on disk), else by `embed`."""

    def __init__(self, library: IllustrationLibrary, *, embed: Embed | None = None,
                 embed_names: Embed | None = None,
                 min_similarity: float = DEFAULT_MIN_SIMILARITY) -> None:
        self._library = library
        self._embed = embed
        self._embed_names = embed_names or embed
        self._min_similarity = min_similarity
        self._lock = threading.Lock()
        self._by_name: dict[str, Illustration] | None = None
        self._names: list[Illustration] = []
        self._vectors: Any = None

    def match(self, phrase: str) -> Match | None:
        normal, content = nouns(phrase)
        if not content:
            return None
        colours = _COLOURS.intersection(_WORD.findall(phrase.lower()))
        candidates = [normal, " ".join(content[::-1]), *content]
        by_name = self._names_index()
        # A colour the name spells comes first: "green apple" is not the keyword's red one.
        for colour in sorted(colours):
            for text in dict.fromkeys(candidates):
                if f"{colour} {text}" in by_name:
                    return Match(by_name[f"{colour} {text}"], "name")
        for text in dict.fromkeys(candidates):
            found = self._keyword(text)
            if found is not None:
                return Match(found, "keyword")
        for text in dict.fromkeys(candidates):
            if text in by_name:
                return Match(by_name[text], "name")
        found = self._word(content[0], colours)
        if found is not None:
            return Match(found, "word")
        return self._nearest(normal)

    def named_in(self, text: str) -> list[Mention]:
        """The things a request's text names that the keyword table or a one-word Unicode
        name knows ("a girl holding an umbrella in the rain" → girl, umbrella, rain), in
        order, each with the count and colour words just before it. Two-word keywords
        ("teddy bear") win over their words; colour words and scene words ("sky",
        "background") are not things."""
        words = _WORD.findall(text.lower())
        by_name = self._names_index()
        found: list[Mention] = []
        at = after_last = 0
        while at < len(words):
            pair = " ".join(singular(w) for w in words[at:at + 2])
            single = singular(words[at])
            illustration, width = None, 1
            if len(words) > at + 1 and pair in KEYWORDS:
                illustration, width = self._keyword(pair), 2
            elif single not in _NOT_THINGS and single in KEYWORDS:
                illustration = self._keyword(single)
            elif single not in _NOT_THINGS and single in by_name:
                illustration = by_name[single]
            if illustration is not None:
                # Its own words only: "red cars, a teddy bear" has no red bear.
                before = words[max(after_last, at - 3):at]
                count = next((_NUMBERS[w] for w in before if w in _NUMBERS), 1)
                colour = next((w for w in reversed(before) if w in _COLOURS), None)
                name = pair if width == 2 else single
                found.append(Mention(name, illustration, count, colour))
                after_last = at + width
            at += width
        return found

    def _keyword(self, text: str) -> Illustration | None:
        char = KEYWORDS.get(text)
        return self._library.by_char(char) if char is not None else None

    def _names_index(self) -> dict[str, Illustration]:
        with self._lock:
            if self._by_name is None:
                illustrations = self._library.illustrations().values()
                self._by_name = {i.name: i for i in illustrations}
                self._names = sorted(illustrations, key=lambda i: i.key)
            return self._by_name

    def _word(self, head: str, colours: set[str]) -> Illustration | None:
        """The name holding `head` as a word, fewest other words first, unlikely kinds
        (signs, faces) last, a stated colour first among equals."""
        best: tuple[tuple[int, int, int, str], Illustration] | None = None
        for illustration in self._names:
            words = illustration.words
            if not _names_the_thing(words, head):
                continue
            rank = (
                len(_UNLIKELY.intersection(words)),
                -len(colours.intersection(words)),
                len(words),
                illustration.key,
            )
            if best is None or rank < best[0]:
                best = (rank, illustration)
        return None if best is None else best[1]

    def _nearest(self, phrase: str) -> Match | None:
        if self._embed is None:
            return None
        vectors = self._name_vectors()
        query = self._embed([phrase])[0]
        scores = vectors @ query
        index = int(scores.argmax())
        score = float(scores[index])
        if score < self._min_similarity:
            return None
        return Match(self._names[index], "embedding", score)

    def _name_vectors(self) -> Any:
        self._names_index()
        with self._lock:
            if self._vectors is None:
                assert self._embed_names is not None
                self._vectors = self._embed_names([i.name for i in self._names])
            return self._vectors
