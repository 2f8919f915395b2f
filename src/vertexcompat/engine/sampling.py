"""Sampling parameters and the llama.cpp sampler chain built from them, one per candidate."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import llama_cpp

# Gemini's defaults for its flash models when the request sets nothing.
DEFAULT_TEMPERATURE = 1.0
DEFAULT_TOP_P = 0.95


@dataclass(frozen=True, slots=True)
class SamplingParams:
    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = DEFAULT_TOP_P
    top_k: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int | None = None
    penalty_window: int = 4096

    def candidate_seed(self, candidate: int) -> int:
        """Each candidate gets its own stream of randomness; with a request seed the streams
        are fixed (same request + seed → same output, SPEC §4), otherwise fresh."""
        if self.seed is None:
            return secrets.randbits(32)
        return (self.seed + 1_000_003 * candidate) & 0xFFFFFFFF


class Sampler:
    """Owns one llama.cpp sampler chain. Not thread-safe: used by the scheduler thread only."""

    def __init__(self, params: SamplingParams, candidate: int, *, n_vocab: int) -> None:
        chain_params = llama_cpp.llama_sampler_chain_default_params()
        chain_params.no_perf = True
        self._chain = llama_cpp.llama_sampler_chain_init(chain_params)
        add = lambda s: llama_cpp.llama_sampler_chain_add(self._chain, s)  # noqa: E731
        if params.presence_penalty or params.frequency_penalty:
            add(
                llama_cpp.llama_sampler_init_penalties(
                    n_vocab, params.penalty_window, 1.0, params.frequency_penalty, params.presence_penalty
                )
            )
        if params.temperature <= 0.0:
            add(llama_cpp.llama_sampler_init_greedy())
        else:
            if params.top_k:
                add(llama_cpp.llama_sampler_init_top_k(params.top_k))
            if params.top_p < 1.0:
                add(llama_cpp.llama_sampler_init_top_p(params.top_p, 1))
            add(llama_cpp.llama_sampler_init_temp(params.temperature))
            add(llama_cpp.llama_sampler_init_dist(params.candidate_seed(candidate)))

    def sample(self, ctx: llama_cpp.llama_context_p, batch_index: int) -> int:
        # llama_sampler_sample also accepts the token into the chain (penalty history).
        return int(llama_cpp.llama_sampler_sample(self._chain, ctx, batch_index))

    def close(self) -> None:
        if self._chain is not None:
            llama_cpp.llama_sampler_free(self._chain)
            self._chain = None
