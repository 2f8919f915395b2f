"""What `:computeTokens` answers: the tokens of each content as the model reads it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TokensInfo:
    """The tokens of one content of a request, in order: each token's id in the model's
    vocabulary (`token_ids`) and the bytes it spells (`tokens`, the same length; a token
    may hold part of a UTF-8 character, so only their concatenation is text). `role` is the
    content's (`user`, `model`; empty when an upstream did not say)."""

    role: str
    token_ids: tuple[int, ...]
    tokens: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if len(self.token_ids) != len(self.tokens):
            raise ValueError("a TokensInfo needs one token's bytes per token id")
