import pytest

from vertexcompat.config import ConfigFileError, Settings, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("VERTEXCOMPAT_"):
            monkeypatch.delenv(name)


def test_defaults():
    s = Settings()
    assert (s.host, s.port, s.parallel, s.ctx_per_seq, s.max_queue) == (
        "127.0.0.1",
        8080,
        8,
        4096,
        16,
    )
    assert s.max_body_bytes == 20 * 1024 * 1024
    assert s.model == "qwen2.5-coder-0.5b-instruct" and s.threads >= 1
    assert s.model_aliases == {} and s.default_project == "default"


def test_precedence_is_overrides_then_env_then_file_then_defaults(tmp_path, monkeypatch):
    config = tmp_path / "c.toml"
    config.write_text(
        'port = 9000\nparallel = 3\nhost = "0.0.0.0"\n[model_aliases]\n"gemini-x" = "m"\n'
    )
    monkeypatch.setenv("VERTEXCOMPAT_PARALLEL", "5")
    monkeypatch.setenv("VERTEXCOMPAT_HOST", "10.0.0.1")
    s = load_settings(config, host="::1", port=None)
    assert (s.host, s.parallel, s.port, s.ctx_per_seq) == ("::1", 5, 9000, 4096)
    assert s.model_aliases == {"gemini-x": "m"}


def test_config_file_from_env(tmp_path, monkeypatch):
    config = tmp_path / "c.toml"
    config.write_text("max_queue = 2\n")
    monkeypatch.setenv("VERTEXCOMPAT_CONFIG", str(config))
    assert load_settings().max_queue == 2


def test_missing_config_file_is_an_error(tmp_path):
    with pytest.raises(ConfigFileError):
        load_settings(tmp_path / "nope.toml")


def test_model_name_of_a_gguf_path_is_its_stem():
    assert Settings(model="/models/my-model.Q4.gguf").model_name == "my-model.Q4"
    assert Settings(model="qwen").model_name == "qwen"


def test_image_settings_have_gemini_defaults_and_read_the_environment(monkeypatch):
    from vertexcompat.config import Settings

    settings = Settings()
    assert settings.image_model_ids == ["gemini-2.5-flash-image", "gemini-2.5-flash-image-preview"]
    assert settings.image_render_timeout_s == 5.0
    monkeypatch.setenv("VERTEXCOMPAT_IMAGE_RENDER_TIMEOUT_S", "1.5")
    monkeypatch.setenv("VERTEXCOMPAT_IMAGE_MODEL_IDS", '["my-drawer"]')
    settings = Settings()
    assert settings.image_render_timeout_s == 1.5 and settings.image_model_ids == ["my-drawer"]


def test_token_endpoint_limits_and_sweep_have_defaults_and_read_the_environment(monkeypatch):
    s = Settings()
    assert (s.token_rate_per_key, s.token_burst_per_key) == (10.0, 100)
    assert (s.token_rate_per_address, s.token_burst_per_address) == (20.0, 200)
    assert s.token_sweep_interval_s == 600.0
    monkeypatch.setenv("VERTEXCOMPAT_TOKEN_RATE_PER_KEY", "0.5")
    monkeypatch.setenv("VERTEXCOMPAT_TOKEN_BURST_PER_ADDRESS", "7")
    monkeypatch.setenv("VERTEXCOMPAT_TOKEN_SWEEP_INTERVAL_S", "1.5")
    s = Settings()
    assert (s.token_rate_per_key, s.token_burst_per_address, s.token_sweep_interval_s) == (
        0.5, 7, 1.5
    )
    assert Settings(token_rate_per_address=0).token_rate_per_address == 0  # 0 = no limit


@pytest.mark.parametrize(
    "bad",
    [{"token_rate_per_key": -1}, {"token_burst_per_key": 0}, {"token_rate_per_address": -0.1},
     {"token_burst_per_address": 0}, {"token_sweep_interval_s": 0}],
)
def test_token_limits_refuse_nonsense(bad):
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Settings(**bad)


def test_safety_defaults_are_off_and_read_from_the_config_file_or_env(tmp_path, monkeypatch):
    from vertexcompat.domain.safety import HarmBlockThreshold, HarmCategory

    assert Settings().safety.settings == []
    config = tmp_path / "c.toml"
    config.write_text(
        '[safety]\nwindow_chars = 200\nsettings = [{ category = "HARM_CATEGORY_HARASSMENT", '
        'threshold = "BLOCK_ONLY_HIGH" }]\n'
    )
    s = load_settings(config)
    (setting,) = s.safety.settings
    assert (setting.category, setting.threshold, setting.method) == (
        HarmCategory.HARASSMENT, HarmBlockThreshold.BLOCK_ONLY_HIGH, None)
    assert s.safety.window_chars == 200 and s.safety.classifiers == ["lexical", "embedding"]
    monkeypatch.setenv("VERTEXCOMPAT_SAFETY", '{"guard_model": "guard"}')
    assert load_settings().safety.guard_model == "guard"


@pytest.mark.parametrize("safety", [
    {"settings": [{"category": "HARM_CATEGORY_NOPE", "threshold": "OFF"}]},
    {"settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "SOMETIMES"}]},
    {"settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF"},
                  {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]},
    {"classifiers": ["magic"]},
    {"first_window_chars": 500, "window_chars": 400},
])
def test_bad_safety_settings_are_refused_at_start(safety):
    with pytest.raises(ValueError):
        Settings(safety=safety)


def test_speculative_decoding_is_ngram_by_default_and_read_from_the_file_or_env(tmp_path,
                                                                                monkeypatch):
    from pydantic import ValidationError

    assert (Settings().speculative, Settings().draft_max) == ("ngram", None)  # the mode's own
    config = tmp_path / "c.toml"
    config.write_text('speculative = "off"\ndraft_max = 4\n')
    assert (load_settings(config).speculative, load_settings(config).draft_max) == ("off", 4)
    monkeypatch.setenv("VERTEXCOMPAT_DRAFT_MAX", "2")
    assert load_settings(config).draft_max == 2
    config.write_text('speculative = "draft"\ndraft_model = "qwen2.5-coder-0.5b-instruct"\n')
    assert (load_settings(config).speculative, load_settings(config).draft_model) == (
        "draft", "qwen2.5-coder-0.5b-instruct")
    assert Settings().draft_model is None  # the catalog's default pairing, at load
    for bad in ({"speculative": "eagle"}, {"draft_max": 0}, {"draft_max": 128}):
        with pytest.raises(ValidationError):
            Settings(**bad)
