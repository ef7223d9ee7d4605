"""One HTTP request sent byte for byte: no client-side normalisation of ``..`` or ``%2F``."""
from __future__ import annotations

import http.client


def raw_request(port: int, method: str, target: str, body: bytes = b"",
                headers: dict[str, str] | None = None, host: str = "127.0.0.1") -> tuple[int, bytes]:
    """Send ``target`` exactly as given to ``host:port``; answers (status, body)."""
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        for key, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            connection.putheader(key, value)
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
