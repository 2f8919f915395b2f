"""Text → token ids with a model's vocabulary (llama.cpp's tokenizer, special tokens parsed)."""

from __future__ import annotations

import llama_cpp


def tokenize(vocab: llama_cpp.llama_vocab_p, text: str, *, add_bos: bool = False) -> list[int]:
    data = text.encode("utf-8")
    cap = len(data) + 8
    arr = (llama_cpp.llama_token * cap)()
    n = llama_cpp.llama_tokenize(vocab, data, len(data), arr, cap, add_bos, True)
    if n < 0:
        cap = -n
        arr = (llama_cpp.llama_token * cap)()
        n = llama_cpp.llama_tokenize(vocab, data, len(data), arr, cap, add_bos, True)
    return list(arr[:n])
