import textwrap

import pytest

from pytest_tokenbudget import ConfigError, Registry, UnknownModelError, get_model


@pytest.fixture
def registry():
    return Registry.load(project_root=None)


@pytest.mark.parametrize(
    "written, expected",
    [
        ("gpt-4o", "gpt-4o"),
        ("GPT-4o", "gpt-4o"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # a snapshot with its own price
        ("openai/gpt-4o", "gpt-4o"),
        ("openrouter/openai/gpt-4o-mini", "gpt-4o-mini"),
        ("ft:gpt-4o-mini-2024-07-18:acme::9xYz", "gpt-4o-mini"),
        ("ft:gpt-4o-mini:acme:support:abc123", "gpt-4o-mini"),
        ("chatgpt-4o-latest", "gpt-4o"),
        ("gpt-4-0613", "gpt-4"),
        ("gpt-5-2025-08-07", "gpt-5"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("gpt-4.1-mini-2099-01-01", "gpt-4.1-mini"),  # a future snapshot keeps its model's figures
        ("claude-3-5-sonnet-latest", "claude-3-5-sonnet-20241022"),
        ("anthropic/claude-3-haiku-20240307", "claude-3-haiku-20240307"),
    ],
)
def test_names_users_write_resolve(registry, written, expected):
    assert registry.get(written).id == expected


def test_tokenizers_of_the_model_families(registry):
    for name in ["gpt-4o", "gpt-4.1", "gpt-4.5-preview", "gpt-5", "gpt-5-mini", "o1", "o3", "o4-mini"]:
        assert registry.get(name).tokenizer == "o200k_base", name
    for name in ["gpt-4", "gpt-3.5-turbo", "gpt-4-turbo"]:
        assert registry.get(name).tokenizer == "cl100k_base", name
    assert registry.get("gpt-oss-120b").tokenizer == "o200k_harmony"
    assert registry.get("claude-sonnet-4-5").tokenizer.startswith("claude")


def test_every_model_names_its_source(registry):
    for model in registry.models():
        assert model.source and model.as_of, model.id
        assert model.context_window > 0
        assert model.max_output_tokens <= model.context_window


def test_unknown_model_names_close_ones_and_the_toml_to_add(registry):
    with pytest.raises(UnknownModelError) as caught:
        registry.get("gpt-4o-mni")
    message = str(caught.value)
    assert "gpt-4o-mini" in message
    assert "[tool.tokenbudget.aliases]" in message


def write_pyproject(tmp_path, body):
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent(body))
    return tmp_path


def test_project_models_and_azure_aliases(tmp_path):
    root = write_pyproject(tmp_path, """
        [tool.tokenbudget.aliases]
        "prod-chat" = "gpt-4o-mini"

        [tool.tokenbudget.models."llama-3.1-8b-vllm"]
        provider = "vllm"
        tokenizer = "o200k_base"
        context_window = 131072
        max_output_tokens = 8192

        [tool.tokenbudget.models."gpt-4o"]
        input_price_per_mtok = 1.25
    """)
    registry = Registry.load(root)
    assert registry.get("prod-chat").id == "gpt-4o-mini"
    assert registry.get("azure/prod-chat").id == "gpt-4o-mini"
    assert registry.get("llama-3.1-8b-vllm").context_window == 131072
    overridden = registry.get("gpt-4o")
    assert overridden.input_price_per_mtok == 1.25
    assert overridden.output_price_per_mtok == 10.0  # kept from the shipped figures
    assert overridden.origin.endswith("pyproject.toml")


def test_extends_starts_from_a_known_model(tmp_path):
    root = write_pyproject(tmp_path, """
        [tool.tokenbudget.models."my-finetune"]
        extends = "gpt-4.1-mini"
        input_price_per_mtok = 0.8
    """)
    model = Registry.load(root).get("my-finetune")
    assert (model.tokenizer, model.context_window, model.input_price_per_mtok) == ("o200k_base", 1047576, 0.8)


@pytest.mark.parametrize(
    "body, key, fix",
    [
        ('[tool.tokenbudget.models."m"]\nprovider = "x"\ntokenizer = "o200k_base"\ncontext_window = "big"\nmax_output_tokens = 1\n',
         "tool.tokenbudget.models.m.context_window", "context_window = 128000"),
        ('[tool.tokenbudget.models."m"]\nprovider = "x"\ntokeniser = "o200k_base"\n',
         "tool.tokenbudget.models.m.tokeniser", "did you mean 'tokenizer'"),
        ('[tool.tokenbudget.models."m"]\nprovider = "x"\n',
         "tool.tokenbudget.models.m", "extends"),
        ('[tool.tokenbudget.models."m"]\nextends = "gpt-9"\n',
         "tool.tokenbudget.models.m.extends", "tokenbudget models"),
        ('[tool.tokenbudget]\naliases = ["x"]\n', "tool.tokenbudget.aliases", '"my-deployment" = "gpt-4o"'),
        ('[tool.tokenbudget\n', "", "correct the syntax"),
        ('[tool.tokenbudget]\nbase_urls = []\n', "tool.tokenbudget.base_urls", "did you mean 'base-urls'"),
    ],
)
def test_bad_project_config_names_file_key_and_fix(tmp_path, body, key, fix):
    root = write_pyproject(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        Registry.load(root).get("gpt-4o")
    message = str(caught.value)
    assert str(tmp_path / "pyproject.toml") in message
    assert f"[{key}]" in message
    assert fix in message


def test_get_model_reads_the_working_directory_project(tmp_path, monkeypatch):
    write_pyproject(tmp_path, '[tool.tokenbudget.aliases]\n"team-default" = "o3"\n')
    monkeypatch.chdir(tmp_path)
    assert get_model("team-default").id == "o3"
