"""Route LLM API traffic through the plugin by patching HTTP transport classes.

The SDKs (openai, anthropic, and everything built on them) all end in an
``httpx2`` or legacy ``httpx`` transport. Patching the transport *classes*
(not instances) catches clients created at import time as well as clients
created inside the test, and works whatever retry/streaming machinery the SDK
layers above. The patches exist only while a handler is installed, so tests
that do not ask for interception run against untouched classes.

This module knows HTTP, not budgets: a handler receives an
:class:`InterceptedRequest` and answers with a :class:`CannedResponse`,
:data:`PASS_THROUGH`, or raises :class:`NetworkBlocked`.
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol
from urllib.parse import urlsplit

__all__ = [
    "CannedResponse",
    "Endpoint",
    "InterceptedRequest",
    "NetworkBlocked",
    "PASS_THROUGH",
    "classify_endpoint",
    "install",
    "uninstall",
]

# (module name, transport class, method, is_async). Modules that are not
# importable are skipped: a project may have only httpx2, only httpx, or both.
_TRANSPORT_TARGETS = (
    ("httpx2", "HTTPTransport", "handle_request", False),
    ("httpx2", "AsyncHTTPTransport", "handle_async_request", True),
    ("httpx", "HTTPTransport", "handle_request", False),
    ("httpx", "AsyncHTTPTransport", "handle_async_request", True),
)
# The SDKs' optional aiohttp transports (``DefaultAioHttpClient``) bypass the
# classes above; they are patched too, but only when already imported, because
# importing them pulls in aiohttp.
_OPTIONAL_TRANSPORT_TARGETS = (
    ("openai._vendor.httpx_aiohttp.transport", "AiohttpTransport", "handle_async_request", True),
    ("anthropic._vendor.httpx_aiohttp.transport", "AiohttpTransport", "handle_async_request", True),
    ("httpx_aiohttp.transport", "AiohttpTransport", "handle_async_request", True),
    # litellm sends async calls through its own aiohttp transport by default.
    ("litellm.llms.custom_httpx.aiohttp_transport", "LiteLLMAiohttpTransport", "handle_async_request", True),
    ("litellm.llms.custom_httpx.aiohttp_transport", "AiohttpTransport", "handle_async_request", True),
)
_OPTIONAL_MODULES = frozenset(target[0] for target in _OPTIONAL_TRANSPORT_TARGETS)

# Query parameters that carry credentials on some gateways (Azure SAS, proxies).
_SECRET_QUERY_KEYS = frozenset({"api-key", "api_key", "apikey", "key", "token", "access_token", "sig", "code"})


class NetworkBlocked(Exception):
    """Raised by a handler to refuse a request; surfaces as the SDK's connect error."""


@dataclass(frozen=True)
class Endpoint:
    api: str  # e.g. "openai.chat"; see classify_endpoint
    deployment: str | None = None  # Azure deployment name from the URL path


@dataclass
class InterceptedRequest:
    method: str
    url: str  # credentials in the query string already masked
    body: bytes
    # Headers are deliberately absent: nothing downstream may ever see an API key.


@dataclass
class CannedResponse:
    status: int
    content: bytes
    content_type: str = "application/json"
    extra_headers: dict[str, str] = field(default_factory=dict)


class _PassThrough:
    def __repr__(self) -> str:
        return "PASS_THROUGH"


PASS_THROUGH: Any = _PassThrough()


class Handler(Protocol):
    def __call__(self, request: InterceptedRequest) -> CannedResponse | _PassThrough: ...


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


# --- installing the patches -------------------------------------------------

_lock = threading.RLock()
_handlers: list[Callable[[InterceptedRequest], Any]] = []
_originals: dict[tuple[type, str], Callable[..., Any]] = {}


def install(handler: Callable[[InterceptedRequest], Any]) -> None:
    """Route every transport request through ``handler`` until :func:`uninstall`.

    Calls nest (the innermost handler wins) so an in-process pytester run inside
    an intercepting test behaves.
    """
    with _lock:
        _handlers.append(handler)
        if len(_handlers) == 1:
            _patch_all()
        else:
            _patch_optional()  # an aiohttp transport may have been imported meanwhile


def uninstall(handler: Callable[[InterceptedRequest], Any]) -> None:
    with _lock:
        if handler in _handlers:
            # Remove the last occurrence: handlers nest like a stack.
            index = len(_handlers) - 1 - _handlers[::-1].index(handler)
            del _handlers[index]
        if not _handlers:
            _unpatch_all()


def is_installed() -> bool:
    return bool(_handlers)


def _active_handler() -> Callable[[InterceptedRequest], Any] | None:
    handlers = _handlers
    return handlers[-1] if handlers else None


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches an optional transport module the moment it is imported while interception is on.

    Without it, a library first imported inside a test (``import litellm`` in the
    test body) would bring an unpatched transport class and leak its requests.
    """

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in _OPTIONAL_MODULES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                spec.loader = _PatchingLoader(spec.loader)
                return spec
            if spec is not None:
                return spec
        return None


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        with _lock:
            if _handlers:
                _patch_optional()

    def __getattr__(self, name: str) -> Any:  # get_source, is_package, ... for tracebacks and tools
        return getattr(self._loader, name)


_import_hook = _PatchOnImport()


def _patch_all() -> None:
    for module_name, class_name, method, is_async in _TRANSPORT_TARGETS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        _patch(module, getattr(module, class_name, None), method, is_async)
    _patch_optional()


def _patch_optional() -> None:
    for module_name, class_name, method, is_async in _OPTIONAL_TRANSPORT_TARGETS:
        module = sys.modules.get(module_name)
        if module is not None:
            _patch(module, getattr(module, class_name, None), method, is_async)
    if _import_hook not in sys.meta_path:
        sys.meta_path.insert(0, _import_hook)


def _unpatch_all() -> None:
    if _import_hook in sys.meta_path:
        sys.meta_path.remove(_import_hook)
    for (cls, method), original in list(_originals.items()):
        setattr(cls, method, original)
    _originals.clear()


def _patch(module: Any, cls: type | None, method: str, is_async: bool) -> None:
    # Only classes that define the method themselves: a subclass inheriting it is
    # covered by its parent's patch, and restoring it would pin the parent's wrapper.
    if cls is None or (cls, method) in _originals or method not in cls.__dict__:
        return
    original = cls.__dict__[method]
    httpx_module = _httpx_module_for(module)
    if httpx_module is None:
        return
    _originals[(cls, method)] = original
    wrapper = _async_wrapper(original, httpx_module) if is_async else _sync_wrapper(original, httpx_module)
    setattr(cls, method, wrapper)


def _httpx_module_for(module: Any) -> Any:
    """The httpx flavour (``httpx`` or ``httpx2``) whose Request/Response a transport uses."""
    name = module.__name__
    if name in ("httpx", "httpx2"):
        return module
    # The vendored aiohttp transports are written against httpx2 in current SDKs,
    # against httpx in older ones.
    source = getattr(module, "httpx", None) or getattr(module, "httpx2", None)
    if source is not None:
        return source
    for candidate in ("httpx2", "httpx"):
        if candidate in sys.modules:
            return sys.modules[candidate]
    return None


def _sync_wrapper(original: Callable[..., Any], httpx_module: Any) -> Callable[..., Any]:
    def handle_request(self: Any, request: Any) -> Any:
        handler = _active_handler()
        if handler is None:
            return original(self, request)
        intercepted = _describe(request, request.read())
        outcome = _decide(handler, intercepted, request, httpx_module)
        if outcome is PASS_THROUGH:
            return original(self, request)
        return outcome

    handle_request.__tokenbudget_original__ = original  # type: ignore[attr-defined]
    return handle_request


def _async_wrapper(original: Callable[..., Any], httpx_module: Any) -> Callable[..., Any]:
    async def handle_async_request(self: Any, request: Any) -> Any:
        handler = _active_handler()
        if handler is None:
            return await original(self, request)
        intercepted = _describe(request, await request.aread())
        outcome = _decide(handler, intercepted, request, httpx_module)
        if outcome is PASS_THROUGH:
            return await original(self, request)
        return outcome

    handle_async_request.__tokenbudget_original__ = original  # type: ignore[attr-defined]
    return handle_async_request


def _describe(request: Any, body: bytes) -> InterceptedRequest:
    method = request.method if isinstance(request.method, str) else request.method.decode()
    url = str(request.url)
    return InterceptedRequest(method=method, url=mask_url(url), body=body)


def _decide(handler: Callable[[InterceptedRequest], Any], intercepted: InterceptedRequest, request: Any, httpx_module: Any) -> Any:
    try:
        outcome = handler(intercepted)
    except NetworkBlocked as blocked:
        raise httpx_module.ConnectError(str(blocked), request=request) from None
    if outcome is PASS_THROUGH:
        return PASS_THROUGH
    headers = {"content-type": outcome.content_type, **outcome.extra_headers}
    return httpx_module.Response(
        status_code=outcome.status,
        headers=headers,
        content=outcome.content,
        request=request,
    )
