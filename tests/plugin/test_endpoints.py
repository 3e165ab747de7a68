"""Which URLs are LLM requests, and how credentials in URLs are masked."""

from __future__ import annotations

import pytest

from pytest_tokenbudget._endpoints import Endpoint, classify_endpoint, mask_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.openai.com/v1/chat/completions", Endpoint("openai.chat")),
        ("https://api.openai.com/v1/responses", Endpoint("openai.responses")),
        ("https://api.openai.com/v1/completions", Endpoint("openai.completions")),
        ("https://api.openai.com/v1/embeddings", Endpoint("openai.embeddings")),
        ("https://api.anthropic.com/v1/messages", Endpoint("anthropic.messages")),
        ("https://api.anthropic.com/v1/messages/count_tokens", Endpoint("anthropic.count_tokens")),
        # token counting, not a generation: never budgeted (see the plugin's _COUNTING_APIS)
        ("https://api.openai.com/v1/responses/input_tokens", Endpoint("openai.input_tokens")),
        ("https://contoso.openai.azure.com/openai/deployments/support-prod/chat/completions?api-version=2024-10-21",
         Endpoint("openai.chat", "support-prod")),
        ("https://contoso.openai.azure.com/openai/deployments/embed/embeddings?api-version=2024-10-21",
         Endpoint("openai.embeddings", "embed")),
        ("https://openrouter.ai/api/v1/chat/completions", Endpoint("openai.chat")),
        ("http://localhost:8000/v1/chat/completions/", Endpoint("openai.chat")),
        ("https://api.openai.com/v1/models", None),
        ("https://api.openai.com/v1/threads/thread_1/messages", None),
        ("https://api.anthropic.com/v1/messages/batches", None),
        ("https://example.com/", None),
    ],
)
def test_classify_by_path(url: str, expected: Endpoint | None) -> None:
    assert classify_endpoint("POST", url) == expected


def test_only_posts_are_llm_requests() -> None:
    assert classify_endpoint("GET", "https://api.openai.com/v1/responses") is None


def test_configured_base_url_classifies_the_rest_of_the_path() -> None:
    base = ("https://gateway.example.com/llm/openai",)
    assert classify_endpoint("POST", "https://gateway.example.com/llm/openai/chat/completions", base) == Endpoint("openai.chat")
    assert classify_endpoint("POST", "https://gateway.example.com/other/thing", base) is None


def test_credentials_in_query_strings_are_masked() -> None:
    masked = mask_url("https://x.openai.azure.com/openai/deployments/d/chat/completions?api-version=1&api-key=SECRET&sig=abc")
    assert masked == "https://x.openai.azure.com/openai/deployments/d/chat/completions?api-version=1&api-key=***&sig=***"
    assert mask_url("https://api.openai.com/v1/chat/completions") == "https://api.openai.com/v1/chat/completions"
