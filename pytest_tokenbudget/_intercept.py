"""Watch LLM API traffic where every SDK request passes, and answer it only where it would leave the machine.

Two kinds of patch, on classes (not instances) so that clients created at
import time are covered too, and only while a handler is installed:

* the **observation point**, ``Client.send`` / ``AsyncClient.send`` of ``httpx2``
  and ``httpx``: every SDK request passes here before any transport, mock,
  cassette or server can answer it. Here a request is classified, and an LLM
  request is counted (``handler.observe``).
* the **answer point**, the code that would put bytes on a socket: httpcore's
  connection pools (under the stock HTTP transports) and the SDKs' aiohttp
  transports. Only requests that reach it get a synthetic reply
  (``handler.answer``). Test doubles sit above it (httpx2-pytest and
  pytest_httpx replace the transport method, respx patches httpcore over us,
  vcrpy replays from the transport, ``MockTransport`` and custom transports
  never call down), so whatever they answer is what the app sees.

This module knows HTTP, not budgets: a handler classifies a request (by
:mod:`._endpoints`), observes an LLM request as an :class:`InterceptedRequest`,
and answers with a :class:`CannedResponse`, :data:`PASS_THROUGH`, or raises :class:`NetworkBlocked`.
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import importlib.abc
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol
from urllib.parse import urlsplit

from ._endpoints import Endpoint, mask_url

__all__ = [
    "CannedResponse",
    "InterceptedRequest",
    "NetworkBlocked",
    "PASS_THROUGH",
    "install",
    "uninstall",
]

# (module name, class, method, is_async). Modules that are not importable are
# skipped: a project may have only httpx2, only httpx, or both.
_OBSERVATION_TARGETS = (
    ("httpx2", "Client", "send", False),
    ("httpx2", "AsyncClient", "send", True),
    ("httpx", "Client", "send", False),
    ("httpx", "AsyncClient", "send", True),
)
# The stock HTTP transports hand requests to these pools (proxies subclass them).
# Answering here rather than in the transport leaves room for doubles that
# patch the transport or httpcore itself.
_POOL_TARGETS = (
    ("httpcore2", "ConnectionPool", "handle_request", False),
    ("httpcore2", "AsyncConnectionPool", "handle_async_request", True),
    ("httpcore", "ConnectionPool", "handle_request", False),
    ("httpcore", "AsyncConnectionPool", "handle_async_request", True),
)
# The SDKs' optional aiohttp transports (``DefaultAioHttpClient``) send without
# httpcore, so they are answer points themselves; they are patched only when
# already imported, because importing them pulls in aiohttp.
_OPTIONAL_TRANSPORT_TARGETS = (
    ("openai._vendor.httpx_aiohttp.transport", "AiohttpTransport", "handle_async_request", True),
    ("anthropic._vendor.httpx_aiohttp.transport", "AiohttpTransport", "handle_async_request", True),
    ("httpx_aiohttp.transport", "AiohttpTransport", "handle_async_request", True),
    # litellm sends async calls through its own aiohttp transport by default.
    ("litellm.llms.custom_httpx.aiohttp_transport", "LiteLLMAiohttpTransport", "handle_async_request", True),
    ("litellm.llms.custom_httpx.aiohttp_transport", "AiohttpTransport", "handle_async_request", True),
)
# Every module with a target: one imported while interception is on is patched as its import ends.
_WATCHED_MODULES = frozenset(target[0] for target in (*_OBSERVATION_TARGETS, *_POOL_TARGETS, *_OPTIONAL_TRANSPORT_TARGETS))

# Libraries that record cassettes: a request reaching the network with one of
# them on the stack is being recorded, and must never be answered synthetically.
_RECORDERS = {"vcr": "vcrpy"}

class NetworkBlocked(Exception):
    """Raised by a handler to refuse a request; surfaces as the SDK's connect error."""


@dataclass
class InterceptedRequest:
    method: str
    url: str  # credentials in the query string already masked
    body: bytes  # empty at the answer point: the observation point already read it
    recorder: str | None = None  # at the answer point: the cassette library recording this request
    # Headers are deliberately absent: nothing downstream may ever see an API key.

    @property
    def host(self) -> str:
        return _host(self.url)


@functools.lru_cache(maxsize=256)  # asked for every answered request, of the same few URLs
def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


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
    """What :func:`install` routes traffic to (the plugin's TestCapture)."""

    def classify(self, method: str, url: str) -> Endpoint | None:
        """The LLM endpoint of a request, or None: only those are read and observed."""

    def observe(self, request: InterceptedRequest, endpoint: Endpoint) -> Any:
        """Count an LLM request; returns a ticket the answer point gets back."""

    def answer(self, request: InterceptedRequest, ticket: Any) -> CannedResponse | _PassThrough:
        """The reply for a request about to leave the machine (``ticket`` None: not an LLM request)."""

    def settle(self, ticket: Any, reached_network: bool) -> None:
        """Called once the observed request's send is over, answered or not."""


# --- installing the patches -------------------------------------------------

_lock = threading.RLock()
_handlers: list[Any] = []
_originals: dict[tuple[type, str], Callable[..., Any]] = {}
_wrappers: dict[tuple[type, str], Callable[..., Any]] = {}
# The ticket of the LLM request whose send() is running in this thread or task:
# the answer point below it picks it up.
_pending: contextvars.ContextVar[Any] = contextvars.ContextVar("tokenbudget_pending", default=None)


def install(handler: Any) -> None:
    """Route every request through ``handler`` (see :class:`Handler`) until :func:`uninstall`.

    Calls nest (the innermost handler wins) so an in-process pytester run inside
    an intercepting test behaves.
    """
    with _lock:
        _handlers.append(handler)
        _patch_all()  # also when nested: a module may have been imported meanwhile


def uninstall(handler: Any, *, keep_patches: bool = False) -> None:
    """Stop routing requests to ``handler``.

    ``keep_patches``: when it was the last handler, leave the patches in place, idle (with no
    handler they hand every request straight to the method they wrap) until the next
    :func:`install` or :func:`release`. The plugin does so between budgeted tests: setting and
    restoring a dozen class attributes per test cost more than the rest of a test's bookkeeping,
    and every restore invalidated the interpreter's attribute caches for the HTTP classes.
    """
    with _lock:
        if handler in _handlers:
            # Remove the last occurrence: handlers nest like a stack.
            index = len(_handlers) - 1 - _handlers[::-1].index(handler)
            del _handlers[index]
        if not _handlers:
            if keep_patches:
                _remove_import_hook()
            else:
                _unpatch_all()


def release() -> None:
    """Take off the patches :func:`uninstall` kept, unless a handler is installed again (an outer run's)."""
    with _lock:
        if not _handlers:
            _unpatch_all()


def is_installed() -> bool:
    return bool(_handlers)


def _active_handler() -> Any:
    handlers = _handlers
    return handlers[-1] if handlers else None


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches a target module the moment it is imported while interception is on.

    Without it, a library first imported inside a test (``import litellm`` in the
    test body, or httpcore when the first client is made) would bring an unpatched
    class and leak its requests. With it, nothing has to be imported just in case:
    a project on httpx2 never pays for importing httpx and httpcore.
    """

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in _WATCHED_MODULES:
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
                _patch_all()

    def __getattr__(self, name: str) -> Any:  # get_source, is_package, ... for tracebacks and tools
        return getattr(self._loader, name)


_import_hook = _PatchOnImport()


def _patch_all() -> None:
    """Patch the targets of every module imported so far; the import hook catches later ones."""
    for module_name, class_name, method, is_async in _OBSERVATION_TARGETS:
        module = sys.modules.get(module_name)
        if module is not None:
            wrap = _async_send_wrapper if is_async else _sync_send_wrapper
            _patch(getattr(module, class_name, None), method, wrap)
    for module_name, class_name, method, is_async in _POOL_TARGETS:
        module = sys.modules.get(module_name)
        if module is not None:
            wrap = _async_pool_wrapper if is_async else _sync_pool_wrapper
            _patch(getattr(module, class_name, None), method, lambda original, module=module, wrap=wrap: wrap(original, module))
    _patch_optional()


def _patch_optional() -> None:
    for module_name, class_name, method, is_async in _OPTIONAL_TRANSPORT_TARGETS:
        module = sys.modules.get(module_name)
        if module is None:
            continue
        httpx_module = _httpx_module_for(module)
        if httpx_module is not None:
            _patch(getattr(module, class_name, None), method,
                   lambda original, httpx_module=httpx_module: _async_transport_wrapper(original, httpx_module))
    if _import_hook not in sys.meta_path:
        sys.meta_path.insert(0, _import_hook)


def _remove_import_hook() -> None:
    if _import_hook in sys.meta_path:
        sys.meta_path.remove(_import_hook)


def _unpatch_all() -> None:
    _remove_import_hook()
    for (cls, method), original in list(_originals.items()):
        # A double patched over us (respx in a session fixture, mock.patch.object) and still
        # runs: restoring the original would remove its patch for every later test. Our wrapper
        # stays under it, idle until a handler is installed again.
        if cls.__dict__.get(method) is _wrappers[(cls, method)]:
            setattr(cls, method, original)
            del _originals[(cls, method)], _wrappers[(cls, method)]


def _patch(cls: type | None, method: str, make_wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    # Only classes that define the method themselves: a subclass inheriting it is
    # covered by its parent's patch, and restoring it would pin the parent's wrapper.
    if cls is None or method not in cls.__dict__:
        return
    key = (cls, method)
    if key in _originals:
        if cls.__dict__[method] is not _originals[key]:
            return  # ours is on top, or under a double that patched over it and still runs
        # Something put the original back over our wrapper (a double restoring what it saved before
        # we patched): ours is gone from the chain, so patch again rather than miss requests.
        del _originals[key], _wrappers[key]
    original = cls.__dict__[method]
    wrapper = make_wrapper(original)
    wrapper.__tokenbudget_original__ = original  # type: ignore[attr-defined]
    _originals[(cls, method)] = original
    _wrappers[(cls, method)] = wrapper
    setattr(cls, method, wrapper)


def _httpx_module_for(module: Any) -> Any:
    """The httpx flavour (``httpx`` or ``httpx2``) whose Request/Response an aiohttp transport uses."""
    # The vendored aiohttp transports are written against httpx2 in current SDKs,
    # against httpx in older ones.
    source = getattr(module, "httpx", None) or getattr(module, "httpx2", None)
    if source is not None:
        return source
    for candidate in ("httpx2", "httpx"):
        if candidate in sys.modules:
            return sys.modules[candidate]
    return None


# --- the observation point ----------------------------------------------------


class _Observation:
    """An observed LLM request on its way down: who ends up answering it is settled after send()."""

    __slots__ = ("handler", "ticket", "reached_network")

    def __init__(self, handler: Any, ticket: Any) -> None:
        self.handler = handler
        self.ticket = ticket
        self.reached_network = False


def _start(handler: Any, method: str, url: str, endpoint: Endpoint, body: bytes) -> _Observation:
    intercepted = InterceptedRequest(method=method, url=mask_url(url), body=body)
    return _Observation(handler, handler.observe(intercepted, endpoint))


def _sync_send_wrapper(original: Callable[..., Any]) -> Callable[..., Any]:
    def send(self: Any, request: Any, **kwargs: Any) -> Any:
        handler = _active_handler()
        if handler is None:
            return original(self, request, **kwargs)
        method, url = _method(request), str(request.url)
        endpoint = handler.classify(method, url)
        if endpoint is None:
            return original(self, request, **kwargs)
        observation = _start(handler, method, url, endpoint, request.read())
        token = _pending.set(observation)
        try:
            return original(self, request, **kwargs)
        finally:
            _pending.reset(token)
            handler.settle(observation.ticket, observation.reached_network)

    return send


def _async_send_wrapper(original: Callable[..., Any]) -> Callable[..., Any]:
    async def send(self: Any, request: Any, **kwargs: Any) -> Any:
        handler = _active_handler()
        if handler is None:
            return await original(self, request, **kwargs)
        method, url = _method(request), str(request.url)
        endpoint = handler.classify(method, url)
        if endpoint is None:
            return await original(self, request, **kwargs)
        observation = _start(handler, method, url, endpoint, await request.aread())
        token = _pending.set(observation)
        try:
            return await original(self, request, **kwargs)
        finally:
            _pending.reset(token)
            handler.settle(observation.ticket, observation.reached_network)

    return send


def _method(request: Any) -> str:
    return request.method if isinstance(request.method, str) else request.method.decode()


# --- the answer points ----------------------------------------------------------


def _answer(url: str, method: str, body: Callable[[], bytes | None]) -> Any:
    """The reply for a request about to be sent; PASS_THROUGH sends it for real."""
    handler = _active_handler()
    if handler is None:
        return PASS_THROUGH
    observation = _pending.get()
    ticket = None
    if observation is not None and observation.handler is handler and not observation.reached_network:
        observation.reached_network = True
        ticket = observation.ticket
    masked = mask_url(url)
    request = InterceptedRequest(method=method, url=masked, body=b"", recorder=_recorder())
    if ticket is None:
        # Sent without Client.send (a transport called directly): observed here, late but not missed.
        endpoint = handler.classify(method, url)
        content = body() if endpoint is not None else None
        if content is not None:
            ticket = handler.observe(InterceptedRequest(method=method, url=masked, body=content), endpoint)
            try:
                return handler.answer(request, ticket)
            finally:
                handler.settle(ticket, True)
    return handler.answer(request, ticket)


def _buffered_body(stream: Any) -> bytes | None:
    """The body of an already-buffered request stream, or None when reading it would consume it."""
    if type(stream).__name__ != "ByteStream":
        return None
    return b"".join(stream)


def _recorder() -> str | None:
    """The cassette library on the stack, if a request is being recorded."""
    if not any(module in sys.modules for module in _RECORDERS):
        return None  # no frame can belong to a library that was never imported: skip the walk
    frame = sys._getframe(2)  # past _answer: the answer point's own wrapper
    while frame is not None:
        top = (frame.f_globals.get("__name__") or "").partition(".")[0]
        if top in _RECORDERS:
            return _RECORDERS[top]
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _pool_url(request: Any) -> str:
    url = request.url
    scheme, host, target = url.scheme.decode(), url.host.decode(), url.target.decode()
    port = f":{url.port}" if url.port is not None else ""
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}{port}{target}"


def _pool_response(httpcore: Any, outcome: CannedResponse) -> Any:
    headers = [(b"content-type", outcome.content_type.encode())]
    headers += [(key.encode(), value.encode()) for key, value in outcome.extra_headers.items()]
    headers.append((b"content-length", str(len(outcome.content)).encode()))
    return httpcore.Response(outcome.status, headers=headers, content=outcome.content)


def _sync_pool_wrapper(original: Callable[..., Any], httpcore: Any) -> Callable[..., Any]:
    def handle_request(self: Any, request: Any) -> Any:
        try:
            outcome = _answer(_pool_url(request), _method(request), lambda: _buffered_body(request.stream))
        except NetworkBlocked as blocked:
            raise httpcore.ConnectError(str(blocked)) from None
        if outcome is PASS_THROUGH:
            return original(self, request)
        return _pool_response(httpcore, outcome)

    return handle_request


def _async_pool_wrapper(original: Callable[..., Any], httpcore: Any) -> Callable[..., Any]:
    async def handle_async_request(self: Any, request: Any) -> Any:
        try:
            outcome = _answer(_pool_url(request), _method(request), lambda: _buffered_body(request.stream))
        except NetworkBlocked as blocked:
            raise httpcore.ConnectError(str(blocked)) from None
        if outcome is PASS_THROUGH:
            return await original(self, request)
        return _pool_response(httpcore, outcome)

    return handle_async_request


def _async_transport_wrapper(original: Callable[..., Any], httpx_module: Any) -> Callable[..., Any]:
    async def handle_async_request(self: Any, request: Any) -> Any:
        try:
            outcome = _answer(str(request.url), _method(request), lambda: _buffered_body(request.stream))
        except NetworkBlocked as blocked:
            raise httpx_module.ConnectError(str(blocked), request=request) from None
        if outcome is PASS_THROUGH:
            return await original(self, request)
        headers = {"content-type": outcome.content_type, **outcome.extra_headers}
        return httpx_module.Response(status_code=outcome.status, headers=headers, content=outcome.content, request=request)

    return handle_async_request
