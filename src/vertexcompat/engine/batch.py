"""One llama_decode call: rows of (token, position, sequence, wants logits) in a batch."""

from __future__ import annotations

import llama_cpp

Row = tuple[int, int, int, bool]


def decode_rows(ctx: llama_cpp.llama_context_p, batch: llama_cpp.llama_batch,
                rows: list[Row]) -> None:
    """Fill `batch` (made by llama_batch_init for at least len(rows) tokens, one sequence a
    token) with `rows` and decode it; a RuntimeError when llama.cpp refuses."""
    for i, (token, pos, seq_id, logits) in enumerate(rows):
        batch.token[i] = token
        batch.pos[i] = pos
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = seq_id
        batch.logits[i] = logits
    batch.n_tokens = len(rows)
    rc = llama_cpp.llama_decode(ctx, batch)
    if rc != 0:
        raise RuntimeError(f"llama_decode returned {rc}")
