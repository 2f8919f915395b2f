"""`TokensInfo` → the JSON of Vertex's `ComputeTokensResponse`, camelCase as Google writes
it: `{"tokensInfo": [{"tokens": […], "tokenIds": […], "role": …}, …]}`, one entry per
content in order.

Proto3 JSON: each token's bytes as standard base64 (a token may be part of a UTF-8
character, so these are bytes, not text), each id (an int64) as a decimal string. `role` is
left out when empty (proto3 leaves out empty strings); `tokens` and `tokenIds` are always
written, as `[]` for a content without tokens, which proto3 JSON readers read as empty.

Pure: no I/O.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

from vertexcompat.domain.tokens import TokensInfo


def tokens_info_json(infos: Iterable[TokensInfo]) -> dict[str, Any]:
    """The `:computeTokens` answer for `infos`."""
    return {"tokensInfo": [_info(info) for info in infos]}


def _info(info: TokensInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "tokens": [base64.b64encode(token).decode("ascii") for token in info.tokens],
        "tokenIds": [str(token_id) for token_id in info.token_ids],
    }
    if info.role:
        out["role"] = info.role
    return out
