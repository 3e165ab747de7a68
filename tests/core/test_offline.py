"""Counting must never touch the network: the encodings come from the package itself."""

import os
import subprocess
import sys
import textwrap

import pytest

from pytest_tokenbudget import EncodingUnavailableError
from pytest_tokenbudget._tokenizers import get_encoding


def run_without_network(code, tmp_path, **env):
    guard = textwrap.dedent("""
        import socket
        def refuse(*args, **kwargs):
            raise SystemExit("network access attempted: %r" % (args,))
        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
    """)
    environment = {**os.environ, "TIKTOKEN_CACHE_DIR": str(tmp_path / "empty-cache"), **env}
    return subprocess.run([sys.executable, "-c", guard + textwrap.dedent(code)], capture_output=True, text=True,
                          env=environment, cwd=tmp_path, timeout=120)


def test_shipped_encodings_load_with_no_network_and_an_empty_cache(tmp_path):
    result = run_without_network("""
        from pytest_tokenbudget import count_tokens, count_request
        print(count_tokens("hello world", "gpt-4o"), count_tokens("hello world", "gpt-4"),
              count_tokens("hello world", "gpt-oss-20b"))
        print(count_request({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).input_tokens)
    """, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == ["2", "2", "2", "8"]
    assert not (tmp_path / "empty-cache").exists()  # nothing was cached, let alone fetched


def test_shipped_encodings_equal_tiktoken_own_definition():
    # Same ranks, pattern and special tokens as tiktoken's o200k_base would have after download.
    o200k = get_encoding("o200k_base")
    harmony = get_encoding("o200k_harmony")
    assert o200k.n_vocab == 200019
    assert o200k.encode_ordinary("tiktoken is great!") == [83, 8251, 2488, 382, 2212, 0]
    assert get_encoding("cl100k_base").encode_ordinary("tiktoken is great!") == [83, 1609, 5963, 374, 2294, 0]
    assert harmony.encode("<|start|>", allowed_special="all") == [200006]


def test_unshipped_encoding_is_a_clear_offline_error(tmp_path):
    result = run_without_network("""
        from pytest_tokenbudget._tokenizers import get_encoding
        from pytest_tokenbudget import EncodingUnavailableError
        try:
            get_encoding("p50k_base")
        except EncodingUnavailableError as error:
            print(error)
    """, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "not shipped" in result.stdout and "TIKTOKEN_CACHE_DIR" in result.stdout


def test_unknown_encoding_name():
    with pytest.raises(EncodingUnavailableError, match="unknown encoding"):
        get_encoding("o300k_base")
