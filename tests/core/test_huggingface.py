"""Open-weight models served behind OpenAI-compatible endpoints count with their own tokenizer.json."""

import textwrap

import pytest

from pytest_tokenbudget import Registry, count_request

tokenizers = pytest.importorskip("tokenizers")


def make_tokenizer(path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "hello": 1, "world": 2, "user": 3, "system": 4}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(path))


def test_model_with_a_local_tokenizer_json(tmp_path):
    make_tokenizer(tmp_path / "tokenizer.json")
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""
        [tool.tokenbudget.models."my-llama"]
        provider = "vllm"
        tokenizer = "hf:tokenizer.json"
        context_window = 8192
        max_output_tokens = 2048
    """))
    registry = Registry.load(tmp_path)
    assert registry.get("my-llama").tokenizer == f"hf:{tmp_path / 'tokenizer.json'}"
    counted = count_request({"model": "my-llama", "messages": [{"role": "user", "content": "hello world again"}]},
                            registry=registry)
    # "user" + "hello world again" (3 words, one unknown) with no chat framing rule declared.
    assert counted.breakdown[0].tokens == 4
    assert counted.provenance == "estimate"  # its chat template's framing is not known to us
    assert counted.tokenizer.startswith("hf:") and counted.tokenizer_version.startswith("tokenizers ")


def test_missing_tokenizer_file_is_a_clear_error(tmp_path):
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""
        [tool.tokenbudget.models."ghost"]
        provider = "vllm"
        tokenizer = "hf:nowhere/tokenizer.json"
        context_window = 8192
        max_output_tokens = 2048
    """))
    from pytest_tokenbudget import EncodingUnavailableError

    with pytest.raises(EncodingUnavailableError, match="no tokenizer.json at"):
        count_request({"model": "ghost", "messages": [{"role": "user", "content": "hi"}]},
                      registry=Registry.load(tmp_path))
