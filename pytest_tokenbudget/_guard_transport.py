"""The guard's HTTP transport for SDKs that take an `http_client` (openai, and anthropic releases
without middleware): it judges each LLM request, then hands it to the client's own HTTP client,
and reads the reported usage from the response as the SDK consumes it."""

from __future__ import annotations

import sys
from typing import Any

from ._errors import TokenBudgetError
from ._guard import Admitted, Guard, api_for, parse_body
from ._usage_log import UsageReader


def guarded_http_client(inner: Any, state: Guard, sdk_errors: tuple[type[BaseException], ...]) -> Any:
    """An HTTP client of the same library (httpx2 or httpx) and flavour (sync/async) as `inner`.
    Refusals are raised as subclasses of `sdk_errors` too: SDK releases that wrap other transport
    errors in a connection error (and retry it) let their own errors through as they are."""
    httpx = httpx_module(inner)
    if isinstance(inner, httpx.AsyncClient):
        return httpx.AsyncClient(transport=_async_transport(httpx)(inner, state, sdk_errors), timeout=inner.timeout)
    return httpx.Client(transport=_sync_transport(httpx)(inner, state, sdk_errors), timeout=inner.timeout)


_FLAVOURED: dict[tuple[type, tuple[type, ...]], type] = {}


def _as_sdk_error(error: TokenBudgetError, sdk_errors: tuple[type[BaseException], ...]) -> BaseException:
    """`error`, as an instance of its own class and of the SDKs' base errors."""
    if not sdk_errors:
        return error
    key = (type(error), sdk_errors)
    flavoured = _FLAVOURED.get(key)
    if flavoured is None:
        flavoured = _FLAVOURED[key] = type(type(error).__name__, (type(error), *sdk_errors),
                                           {"__module__": type(error).__module__, "__str__": type(error).__str__})
    copy = flavoured.__new__(flavoured)
    copy.__dict__.update(error.__dict__)
    copy.args = error.args
    return copy


def httpx_module(http_client: Any) -> Any:
    """httpx2 or httpx, whichever `http_client` (or the class the SDK derived it from) comes from."""
    for cls in type(http_client).__mro__:
        root = cls.__module__.split(".")[0]
        if root in ("httpx", "httpx2"):
            return sys.modules[root]
    raise TypeError(f"{type(http_client).__name__} is not an httpx or httpx2 client")


def _rebuilt(httpx: Any, request: Any, body: Any) -> Any:
    import json

    headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() != "content-length"]
    return httpx.Request(request.method, request.url, headers=headers, content=json.dumps(body).encode(),
                         extensions=request.extensions)


def _prepare(httpx: Any, state: Guard, request: Any, sdk_errors: tuple[type[BaseException], ...]) -> tuple[Any, Admitted | None]:
    api = api_for(request.method, str(request.url))
    if api is None:
        return request, None
    try:
        body = parse_body(request.content)
        admitted = state.admit(body, api, str(request.url))
    except TokenBudgetError as error:
        raise _as_sdk_error(error, sdk_errors) from None
    if admitted.body is not body:
        request = _rebuilt(httpx, request, admitted.body)
    return request, admitted


def _sync_transport(httpx: Any) -> type:
    class ObservedStream(httpx.SyncByteStream):
        def __init__(self, stream: Any, state: Guard, judged: Admitted, status: int) -> None:
            self._stream, self._state, self._judged, self._status = stream, state, judged, status
            self._reader = UsageReader()
            self._logged = False

        def __iter__(self) -> Any:
            for chunk in self._stream:
                self._reader.feed(chunk)
                yield chunk

        def close(self) -> None:
            try:
                self._stream.close()
            finally:
                if not self._logged:
                    self._logged = True
                    self._state.finished(self._judged, self._reader, self._status)

    class GuardTransport(httpx.BaseTransport):
        def __init__(self, inner: Any, state: Guard, sdk_errors: tuple[type[BaseException], ...]) -> None:
            self._inner, self._state, self._sdk_errors = inner, state, sdk_errors

        def handle_request(self, request: Any) -> Any:
            request.read()
            request, judged = _prepare(httpx, self._state, request, self._sdk_errors)
            response = self._inner.send(request, stream=True)
            if judged is not None:
                response.stream = ObservedStream(response.stream, self._state, judged, response.status_code)
            return response

        def close(self) -> None:
            self._inner.close()

    return GuardTransport


def _async_transport(httpx: Any) -> type:
    class ObservedStream(httpx.AsyncByteStream):
        def __init__(self, stream: Any, state: Guard, judged: Admitted, status: int) -> None:
            self._stream, self._state, self._judged, self._status = stream, state, judged, status
            self._reader = UsageReader()
            self._logged = False

        async def __aiter__(self) -> Any:
            async for chunk in self._stream:
                self._reader.feed(chunk)
                yield chunk

        async def aclose(self) -> None:
            try:
                await self._stream.aclose()
            finally:
                if not self._logged:
                    self._logged = True
                    self._state.finished(self._judged, self._reader, self._status)

    class AsyncGuardTransport(httpx.AsyncBaseTransport):
        def __init__(self, inner: Any, state: Guard, sdk_errors: tuple[type[BaseException], ...]) -> None:
            self._inner, self._state, self._sdk_errors = inner, state, sdk_errors

        async def handle_async_request(self, request: Any) -> Any:
            await request.aread()
            request, judged = _prepare(httpx, self._state, request, self._sdk_errors)
            response = await self._inner.send(request, stream=True)
            if judged is not None:
                response.stream = ObservedStream(response.stream, self._state, judged, response.status_code)
            return response

        async def aclose(self) -> None:
            await self._inner.aclose()

    return AsyncGuardTransport
