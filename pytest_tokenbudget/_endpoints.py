"""Which LLM API an HTTP request targets, told from its method and URL, and URLs made safe to show.
Shared by the pytest plugin's interception and the runtime guard; knows nothing of either."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

# Query parameters that carry credentials on some gateways (Azure SAS, proxies).
_SECRET_QUERY_KEYS = frozenset({"api-key", "api_key", "apikey", "key", "token", "access_token", "sig", "code"})


@dataclass(frozen=True)
class Endpoint:
    api: str  # e.g. "openai.chat"; see classify_endpoint
    deployment: str | None = None  # Azure deployment name from the URL path


# Suffixes are matched on the path with any trailing slash removed. Order matters:
# "/chat/completions" must be tested before "/completions".
_PATH_SUFFIXES = (
    ("/messages/count_tokens", "anthropic.count_tokens"),
    ("/responses/input_tokens", "openai.input_tokens"),
    ("/chat/completions", "openai.chat"),
    ("/responses", "openai.responses"),
    ("/completions", "openai.completions"),
    ("/embeddings", "openai.embeddings"),
    ("/messages", "anthropic.messages"),
)


# Remembered: every request is classified, an app sends to the same few URLs over and over, and
# parsing them again cost as much as the rest of the observation. Endpoints are immutable.
@lru_cache(maxsize=1024)
def classify_endpoint(method: str, url: str, base_urls: tuple[str, ...] = ()) -> Endpoint | None:
    """Which LLM API a request targets, or None for anything else.

    Detection is by path on any host (OpenAI-compatible servers such as vLLM or a
    litellm proxy use the same paths), so a base URL only needs configuring when
    a gateway rewrites paths; requests under a configured base URL are
    classified by the remainder of their path.
    """
    if method.upper() != "POST":
        return None
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    for base in base_urls:
        base_parts = urlsplit(base)
        base_path = base_parts.path.rstrip("/")
        if parts.netloc == base_parts.netloc and path.startswith(base_path):
            remainder = path[len(base_path):] or "/"
            endpoint = _classify_path(remainder)
            if endpoint is not None:
                return endpoint
    return _classify_path(path)


def _classify_path(path: str) -> Endpoint | None:
    for suffix, api in _PATH_SUFFIXES:
        if path.endswith(suffix):
            if api == "anthropic.messages" and "/threads/" in path:
                return None  # OpenAI Assistants thread messages are not a completion call
            deployment = None
            segments = path.split("/")
            if "deployments" in segments:
                index = segments.index("deployments")
                if index + 1 < len(segments):
                    deployment = segments[index + 1]
            return Endpoint(api, deployment)
    return None


def mask_url(url: str) -> str:
    """The URL with credential-looking query parameters replaced by ``***``."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    masked = []
    for pair in parts.query.split("&"):
        key, sep, _value = pair.partition("=")
        masked.append(f"{key}{sep}***" if key.lower() in _SECRET_QUERY_KEYS else pair)
    return parts._replace(query="&".join(masked)).geturl()
