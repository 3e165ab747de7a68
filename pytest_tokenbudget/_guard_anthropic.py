"""The guard as anthropic client middleware: the SDK runs it once per HTTP attempt, inside its
retry loop, and lets its exceptions reach the caller as they are, so a refusal is a
RequestRefused, never a connection error retried in a loop."""

from __future__ import annotations

from typing import Any

from ._guard import Admitted, Guard, api_for
from ._guard_transport import httpx_module
from ._usage_log import UsageReader


def guarded_middleware(client: Any, state: Guard) -> Any:
    from anthropic import Middleware

    httpx = httpx_module(client._client)

    def judge(request: Any) -> tuple[Any, Admitted | None]:
        api = api_for(request.method, request.url)
        if api is None:
            return request, None
        body = request.json
        admitted = state.admit(body, api, str(request.url))
        if admitted.body is not body:
            request = request.copy(body=dict(admitted.body))
        return request, admitted

    def observe(response: Any, judged: Admitted | None) -> Any:
        if judged is None:
            return response
        http = response.http_response
        reader = UsageReader()
        try:
            reader.feed(http.content)  # already read: a whole JSON answer
        except httpx.ResponseNotRead:
            http.stream = _observed(httpx, http.stream, lambda: state.finished(judged, reader, http.status_code), reader)
            return response
        state.finished(judged, reader, http.status_code)
        return response

    class TokenBudgetGuard(Middleware):
        def handle(self, request: Any, call_next: Any) -> Any:
            request, judged = judge(request)
            return observe(call_next(request), judged)

        async def handle_async(self, request: Any, call_next: Any) -> Any:
            request, judged = judge(request)
            return observe(await call_next(request), judged)

    return TokenBudgetGuard()


def _observed(httpx: Any, stream: Any, done: Any, reader: UsageReader) -> Any:
    class Observed(httpx.SyncByteStream, httpx.AsyncByteStream):
        logged = False

        def __iter__(self) -> Any:
            for chunk in stream:
                reader.feed(chunk)
                yield chunk

        async def __aiter__(self) -> Any:
            async for chunk in stream:
                reader.feed(chunk)
                yield chunk

        def _finish(self) -> None:
            if not self.logged:
                self.logged = True
                done()

        def close(self) -> None:
            try:
                stream.close()
            finally:
                self._finish()

        async def aclose(self) -> None:
            try:
                await stream.aclose()
            finally:
                self._finish()

    return Observed()
