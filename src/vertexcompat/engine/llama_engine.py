"""The local llama.cpp engine: loads a GGUF, owns the model/context, tokenizes prompts with
the model's chat template, and hands jobs to the scheduler thread.

Known trap (DEVELOPERS.md): this CPU advertises AMX and llama.cpp's AMX / extra-buffer
(weight repacking) path segfaults on the first real prompt, so models load with
`use_extra_bufts = False` unless the operator opts in.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llama_cpp

from vertexcompat.domain.errors import Unavailable
from vertexcompat.domain.events import StreamEvent
from vertexcompat.engine.chat_template import ChatTemplate
from vertexcompat.engine.constraints import CallsSpec, GrammarCache, UnsupportedSchema
from vertexcompat.engine.llama_log import route_llama_logs
from vertexcompat.engine.prompt_text import PromptShield
from vertexcompat.engine.sampling import SamplingParams, grammar_sampler
from vertexcompat.engine.saved_states import SavedStates
from vertexcompat.engine.scheduler import (
    EXACT_ROWS,
    EXACT_ROWS_FLASH,
    Job,
    QueueTimeReport,
    Scheduler,
)
from vertexcompat.engine.speculation import MAX_DRAFT as NGRAM_MAX_DRAFT
from vertexcompat.engine.svg_grammar import SvgGrammarSpec
from vertexcompat.engine.thinking import (
    ThinkingFormat,
    ThinkingPlan,
    generic_format,
    native_format,
    native_thinking,
    THOUGHT_CLOSE,
    THOUGHT_OPEN,
)
from vertexcompat.engine.draft_model import MODEL_MAX_DRAFT, DraftModel
from vertexcompat.engine.tokens import tokenize

log = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True)
class EngineConfig:
    threads: int = os.cpu_count() or 1
    parallel: int = 8
    ctx_per_seq: int = 4096
    batch_size: int = 512
    max_queue: int = 16
    use_extra_bufts: bool = False
    kv_unified: bool = False
    # Reuse the KV of prompt prefixes that released slots still hold (engine/scheduler.py).
    prefix_cache: bool = True
    # Identical requests with a deterministic answer decode once (engine/scheduler.py).
    share_answers: bool = True
    # Host memory for the KV of prefixes whose slots were reused (engine/saved_states.py);
    # 0 keeps none.
    cache_ram_mib: int = 2048
    # llama.cpp's CPU flash attention computes a sequence's rows differently depending on
    # the other sequences in the same batch (measured: last-bit differences that change
    # sampled answers). Off, a sequence's numbers depend only on its own tokens and on
    # decoding its prompt in chunks of at least EXACT_ROWS (engine/scheduler.py), so
    # answers are the same alone, under load and with a prefix reused. On is about 5-10%
    # faster per token on the 2-core test machine.
    flash_attn: bool = False
    # Speculative decoding: "ngram" verifies prompt-lookup drafts (engine/speculation.py),
    # "draft" a draft model's (engine/draft_model.py; `load` gets its file), of up to
    # `draft_max` tokens per step (None: the mode's own, `NGRAM_MAX_DRAFT` or
    # `MODEL_MAX_DRAFT`); "off" decodes one token per step.
    speculative: str = "off"
    draft_max: int | None = None
    grammar_cache_size: int = 64
    # `maxLength` given to schema strings that set none, so constrained answers can end.
    json_string_max_length: int = 256
    # Levels a recursive `$ref` is unrolled to in a grammar (engine/constraints.py).
    json_recursion_depth: int = 3


def matrix_kernels() -> str:
    """Whose kernels multiply Q8_0 / Q5_0 / Q4_K / Q6_K weights here: "vertexcompat" when
    the installed llama.cpp has ours (native/vc_gemm.h, built by native/install_llama_cpp.py)
    and this CPU runs them, else "llama.cpp". VERTEXCOMPAT_KERNELS=stock picks llama.cpp's."""
    info = llama_cpp.llama_print_system_info()
    return "vertexcompat" if b"VC_GEMM = 1" in info else "llama.cpp"


def _draft_max(cfg: EngineConfig) -> int:
    """The longest draft per step: 0 without speculation, else the configured one or the
    mode's own."""
    if cfg.speculative == "off":
        return 0
    if cfg.draft_max is not None:
        return cfg.draft_max
    return MODEL_MAX_DRAFT if cfg.speculative == "draft" else NGRAM_MAX_DRAFT


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    """A conversation rendered with the model's template: the text (for debugging views),
    its tokens, and, when the answer is to be thought through first, how (the format's
    open text already ends `text`)."""

    text: str
    tokens: list[int]
    thinking: ThinkingFormat | None = None


class JobHandle:
    """The request side of one job: an asyncio queue the scheduler thread feeds."""

    def __init__(self, scheduler: Scheduler, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduler = scheduler
        self._loop = loop
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self.job: Job | None = None

    def sink(self, item: StreamEvent | BaseException | None) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the loop is gone: nobody listens any more
            if self.job is not None:
                self.job.cancel()

    async def events(self) -> AsyncIterator[StreamEvent]:
        try:
            while True:
                item = await self._queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.cancel()

    def end_candidate(self, candidate: int) -> None:
        """Stop generating for one candidate (it finishes with STOP); the others go on."""
        if self.job is not None and not self.job.cancelled:
            self._scheduler.end_candidate(self.job, candidate)

    def cancel(self) -> None:
        if self.job is not None and not self.job.cancelled:
            self._scheduler.cancel(self.job)


class LlamaEngine:
    def __init__(self, config: EngineConfig, *, on_admit: QueueTimeReport | None = None) -> None:
        """`on_admit`: told each request's queue time (seconds from submission until it
        got its KV slots), on the scheduler thread."""
        self.config = config
        self._on_admit = on_admit
        self.name: str | None = None
        self._model: Any = None
        self._ctx: Any = None
        self._vocab: Any = None
        self._template: ChatTemplate | None = None
        self._shield = PromptShield((), ())
        self._thoughts_inline: bool | None = None
        self._scheduler: Scheduler | None = None
        self._draft: DraftModel | None = None  # speculative="draft": the draft model
        self._pieces: dict[int, bytes] = {}
        self._add_bos = False
        self.ctx_per_seq = config.ctx_per_seq
        self.grammars = GrammarCache(
            capacity=config.grammar_cache_size,
            default_max_length=config.json_string_max_length,
            max_depth=config.json_recursion_depth,
            verify=self._verify_grammar,
        )

    @property
    def ready(self) -> bool:
        return self._scheduler is not None

    # -- loading ---------------------------------------------------------------------------

    def load(self, path: Path, name: str, *, draft_path: Path | None = None) -> None:
        """Blocking: load weights, create the context, start the scheduler thread.
        `draft_path`: the draft model's file, needed with `speculative="draft"`."""
        if self.config.speculative == "draft" and draft_path is None:
            raise ValueError('speculative="draft" needs a draft model file')
        route_llama_logs()
        # Process-wide llama.cpp init; idempotent, so each engine may call it.
        llama_cpp.llama_backend_init()
        cfg = self.config
        mparams = llama_cpp.llama_model_default_params()
        mparams.n_gpu_layers = 0
        mparams.use_extra_bufts = cfg.use_extra_bufts
        model = llama_cpp.llama_model_load_from_file(str(path).encode(), mparams)
        if not model:
            raise RuntimeError(f"llama.cpp could not load {path}")
        ctx_per_seq = min(cfg.ctx_per_seq, llama_cpp.llama_model_n_ctx_train(model))
        cparams = llama_cpp.llama_context_default_params()
        cparams.n_ctx = ctx_per_seq * cfg.parallel
        cparams.n_batch = cfg.batch_size
        cparams.n_ubatch = cfg.batch_size
        cparams.n_seq_max = cfg.parallel
        cparams.n_threads = cfg.threads
        cparams.n_threads_batch = cfg.threads
        # One KV stream per sequence: candidates and concurrent requests never share
        # attention buffers, and no time is spent on masked cells. With flash attention
        # off (EngineConfig.flash_attn), a sequence's numbers then do not depend on its
        # neighbours (seed determinism under concurrency).
        cparams.kv_unified = cfg.kv_unified
        cparams.flash_attn_type = (
            llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if cfg.flash_attn
            else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        cparams.no_perf = True
        ctx = llama_cpp.llama_init_from_model(model, cparams)
        if not ctx:
            llama_cpp.llama_model_free(model)
            raise RuntimeError("llama.cpp could not create a context")
        self._model, self._ctx = model, ctx
        self._vocab = llama_cpp.llama_model_get_vocab(model)
        self._add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self._vocab))
        raw_template = llama_cpp.llama_model_chat_template(model, None)
        self._template = ChatTemplate(
            raw_template.decode("utf-8") if raw_template else None,
            bos_token=self._special_text(llama_cpp.llama_vocab_bos(self._vocab)),
            eos_token=self._special_text(llama_cpp.llama_vocab_eos(self._vocab)),
        )
        self._shield = self._prompt_shield()
        self.ctx_per_seq = ctx_per_seq
        self.name = name
        if cfg.speculative == "draft" and draft_path is not None:  # (checked above)
            try:
                self._draft = DraftModel(
                    draft_path, parallel=cfg.parallel, ctx_per_seq=ctx_per_seq,
                    batch_size=cfg.batch_size, threads=cfg.threads,
                    use_extra_bufts=cfg.use_extra_bufts, target_vocab=self._vocab,
                )
            except BaseException:
                self.close()
                raise
        scheduler = Scheduler(
            ctx,
            self._vocab,
            parallel=cfg.parallel,
            ctx_per_seq=ctx_per_seq,
            batch_size=cfg.batch_size,
            max_queue=cfg.max_queue,
            token_piece=self.token_piece,
            prefix_cache=cfg.prefix_cache,
            share_answers=cfg.share_answers,
            exact_rows=EXACT_ROWS_FLASH if cfg.flash_attn else EXACT_ROWS,
            saved=SavedStates(cfg.cache_ram_mib * 2**20),
            on_admit=self._on_admit,
            draft_max=_draft_max(cfg),
            draft_model=self._draft,
        )
        scheduler.start()
        self._scheduler = scheduler
        log.info(
            "loaded %s (%s): ctx/seq=%d parallel=%d threads=%d extra_bufts=%s kernels=%s",
            name, path, ctx_per_seq, cfg.parallel, cfg.threads, cfg.use_extra_bufts,
            matrix_kernels(),
        )

    def close(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.stop()
        draft, self._draft = self._draft, None
        if draft is not None:
            draft.close()
        if self._ctx is not None:
            llama_cpp.llama_free(self._ctx)
            self._ctx = None
        if self._model is not None:
            llama_cpp.llama_model_free(self._model)
            self._model = None

    # -- tokens ----------------------------------------------------------------------------

    def _special_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self._to_piece(token, special=True).decode("utf-8", errors="replace")

    def _to_piece(self, token: int, *, special: bool) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        return buf.raw[:n]

    def _prompt_shield(self) -> PromptShield:
        """The texts request strings may not turn into tokens (engine/prompt_text.py):
        every CONTROL or UNKNOWN token, and the thinking markers when they are tokens."""
        parsed_as_special = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN
        ids = [
            token
            for token in range(llama_cpp.llama_vocab_n_tokens(self._vocab))
            if llama_cpp.llama_vocab_get_attr(self._vocab, token) & parsed_as_special
        ]
        for marker in (THOUGHT_OPEN, THOUGHT_CLOSE):
            if (token := self.single_token(marker)) is not None:
                ids.append(token)
        texts = [self._special_text(token) for token in ids]
        return PromptShield(texts, ids)

    def token_piece(self, token: int) -> bytes:
        """The bytes a generated token contributes to the answer (control tokens: none)."""
        piece = self._pieces.get(token)
        if piece is None:
            piece = self._pieces[token] = self._to_piece(token, special=False)
        return piece

    def tokenize(self, text: str, *, add_bos: bool, parse_special: bool = True) -> list[int]:
        return tokenize(self._vocab, text, add_bos=add_bos, parse_special=parse_special)

    def text_tokens(self, text: str) -> list[tuple[int, bytes]]:
        """Request text on its own, tokenized as a prompt tokenizes request text (no BOS;
        control-token texts such as `<|im_end|>` stay plain text: prompt_text.py): each
        token's id and the bytes it spells (a token may hold part of a UTF-8 character;
        the bytes of all of them are `text`'s). Blocking (CPU work for a long text)."""
        self._require()
        shielded = self._shield.shield(text)
        _, tokens = self._shield.tokenize_rendered(
            shielded.value,
            [shielded],
            lambda part, special: self.tokenize(part, add_bos=False, parse_special=special),
        )
        return [(token, self.token_piece(token)) for token in tokens]

    def single_token(self, text: str) -> int | None:
        """The id of the one token that spells `text` (e.g. Qwen's `<tool_call>`), or None
        when the vocabulary needs several tokens for it."""
        tokens = self.tokenize(text, add_bos=False)
        return tokens[0] if len(tokens) == 1 else None

    @property
    def template_knows_tools(self) -> bool:
        """Whether the model's own chat template renders function declarations."""
        template = self._require()._template
        assert template is not None
        return template.knows_tools

    def prompt_tokens(
        self, messages: list[dict[str, Any]], *, tools: list[dict[str, Any]] | None = None
    ) -> list[int]:
        """Render `messages` (and `tools`, for a template that knows them) with the model's
        chat template and tokenize the result."""
        return self.render_prompt(messages, tools=tools).tokens

    @property
    def template_thinks(self) -> bool:
        """Whether the model's own template frames reasoning segments (engine/thinking.py)."""
        template = self._require()._template
        assert template is not None
        return native_thinking(template.source)

    @property
    def thoughts_inline(self) -> bool:
        """Whether earlier turns' thoughts go inside the answer message (native thinking, or
        a template that cannot put two assistant messages in a row) rather than before it
        as a message of their own (engine/thinking.py `history_messages`)."""
        template = self._require()._template
        assert template is not None
        if self._thoughts_inline is None:  # the template is fixed once loaded: decide once
            self._thoughts_inline = native_thinking(template.source) or (
                template.assistant_turn_boundary([{"role": "user", "content": "."}]) is None
            )
        return self._thoughts_inline

    def render_prompt(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        thinking: bool = False,
        answer: bool = True,
    ) -> RenderedPrompt:
        """Render and tokenize; with `thinking`, the prompt ends by opening the reasoning
        segment in the format the template calls for. `answer=False`: the conversation
        alone, without the opening of the model's answer (what a longer conversation that
        begins with it shares)."""
        template = self._require()._template
        assert template is not None
        native = native_thinking(template.source)
        # Request text goes in with its control-token texts swapped out (prompt_text.py).
        shielded_messages = self._shield.shield(messages)
        shielded_tools = self._shield.shield(tools) if tools else None
        rendered = template.render(
            shielded_messages.value,
            tools=shielded_tools.value if shielded_tools else None,
            add_generation_prompt=answer,
            thinking=thinking if native else None,
        )
        fmt: ThinkingFormat | None = None
        if thinking:
            fmt = (
                native_format(rendered[-64:])
                if native
                else generic_format(template.assistant_turn_boundary(messages))
            )
            rendered += fmt.open
        text, tokens = self._shield.tokenize_rendered(
            rendered,
            [s for s in (shielded_messages, shielded_tools) if s is not None],
            lambda part, special: self.tokenize(part, add_bos=False, parse_special=special),
        )
        if self._add_bos and not (template.bos_token and text.startswith(template.bos_token)):
            tokens.insert(0, llama_cpp.llama_vocab_bos(self._vocab))
        return RenderedPrompt(text=text, tokens=tokens, thinking=fmt)

    def thinking_plan(self, fmt: ThinkingFormat, budget: int) -> ThinkingPlan:
        """The forced texts of `fmt` as tokens (special tokens such as `<|im_end|>` parsed)."""
        return ThinkingPlan(
            budget=budget,
            close_tokens=tuple(self.tokenize(fmt.close, add_bos=False)),
            after_marker_tokens=tuple(self.tokenize(fmt.after_marker, add_bos=False)),
            marker=fmt.marker,
        )

    # -- constraints -----------------------------------------------------------------------

    def json_grammar(self, schema: Mapping[str, Any] | None) -> str:
        """The (cached) grammar for a JSON answer matching `schema` (None: any object).
        Raises UnsupportedSchema. Blocking (compiling a big schema is CPU work)."""
        self._require()
        return self.grammars.grammar_for(schema)

    def calls_grammar(self, spec: CallsSpec) -> str:
        """The (cached) grammar for function calls (engine/constraints.py). Raises
        UnsupportedSchema naming the function whose parameters cannot be enforced."""
        self._require()
        return self.grammars.calls_grammar_for(spec)

    def svg_grammar(self, spec: SvgGrammarSpec) -> str:
        """The (cached) grammar for a drawing (engine/svg_grammar.py). Blocking."""
        self._require()
        return self.grammars.svg_grammar_for(spec)

    def _verify_grammar(self, grammar: str) -> None:
        sampler = grammar_sampler(self._vocab, grammar)
        if sampler is None:
            raise UnsupportedSchema("llama.cpp could not parse the grammar compiled from it")
        llama_cpp.llama_sampler_free(sampler)

    # -- generation ------------------------------------------------------------------------

    def submit(
        self,
        prompt: list[int],
        *,
        n: int,
        params: SamplingParams,
        max_tokens: int,
        stop: tuple[str, ...],
        thinking: ThinkingPlan | None = None,
        cache_scope: str | None = None,
        pin: str | None = None,
    ) -> JobHandle:
        """Queue a job; must be called on the event loop that will read its events.
        `cache_scope`: prompt prefixes are reused only between jobs of the same scope.
        `pin`: a name under which the prompt's KV is kept in host memory until `unpin`."""
        scheduler = self._require()._scheduler
        assert scheduler is not None
        handle = JobHandle(scheduler, asyncio.get_running_loop())
        job = Job(prompt=prompt, n=n, params=params, max_tokens=max_tokens, stop=stop,
                  sink=handle.sink, thinking=thinking, cache_scope=cache_scope, pin=pin)
        handle.job = job
        scheduler.submit(job)
        return handle

    def unpin(self, name: str) -> None:
        scheduler = self._scheduler
        if scheduler is not None:
            scheduler.unpin(name)

    def stats(self) -> dict[str, int]:
        scheduler = self._scheduler
        return scheduler.stats() if scheduler is not None else {}

    def _require(self) -> LlamaEngine:
        if self._scheduler is None:
            # Why a load failed is the loader's to say (container.LocalModelLoader).
            raise Unavailable("The model is not loaded.", retry_after_s=5)
        return self
