"""The HTTP client that delivers webhooks: httpx, one pooled client, a bounded wait."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Self

import httpx

from tierbook.service.webhooks import SendResult

TIMEOUT_S = 10.0


class HttpSender:
    """POSTs deliveries; a status, a timeout or a refused connection comes back as a result."""

    def __init__(self, timeout_s: float = TIMEOUT_S) -> None:
        # Redirects are not followed: a webhook URL is where the tenant said to deliver.
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> SendResult:
        try:
            response = self._client.post(url, content=body, headers=dict(headers))
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return SendResult(None, f"{type(exc).__name__}: {exc}"[:500])
        return SendResult(response.status_code)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
