"""A small keep-alive HTTP/1.1 JSON client on http.client: low overhead, one connection per instance."""

from __future__ import annotations

import http.client
import time
from typing import Any

import orjson


class HttpError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, body: bytes) -> None:
        super().__init__(f"{method} {path} -> {status}: {body[:500].decode(errors='replace')}")
        self.status = status
        self.body = body


class Client:
    """One persistent connection to 127.0.0.1:port; reconnects once if the server closed it."""

    def __init__(self, port: int, host: str = "127.0.0.1", headers: dict[str, str] | None = None) -> None:
        self.host = host
        self.port = port
        self.headers = {"Accept": "application/json", **(headers or {})}
        self.conn = http.client.HTTPConnection(host, port, timeout=600)

    def close(self) -> None:
        self.conn.close()

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes, float]:
        """Send one request; returns (status, body, seconds from send to last byte read)."""
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (0, 1):
            try:
                t0 = time.perf_counter()
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                return resp.status, data, time.perf_counter() - t0
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, payload: Any = None, *, expect: int = 200) -> tuple[Any, float]:
        """Request with a JSON body; returns (decoded JSON, seconds). Raises HttpError on another status."""
        body = None if payload is None else payload if isinstance(payload, bytes) else orjson.dumps(payload)
        status, data, elapsed = self.request(method, path, body)
        if status != expect:
            raise HttpError(method, path, status, data)
        return orjson.loads(data), elapsed
