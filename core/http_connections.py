"""The HTTP client's connections: opening them (TLS, proxies, CONNECT tunnels), keeping the idle
ones per thread for the next request to the same server, and noticing the ones a server closed.

TLS is verified against certifi's CA bundle unless ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE`` or
``SSL_CERT_FILE`` names another (the variables requests and curl read), so a download checks
certificates the same way on every platform.
"""
from __future__ import annotations

import http.client
import os
import socket
import threading
from typing import Any
from urllib.parse import urlsplit

from .errors import InvalidInput
from .http_proxy import basic_authorization
from .redact import redact_url


class TransportError(OSError):
    """The request got no (complete) answer: the connection failed or broke."""


class ConnectTimeout(TransportError):
    """No connection within the connect timeout."""


class ReadTimeout(TransportError):
    """Connected, but no answer within the read timeout."""


class Connection:
    """One ``http.client`` connection, and the pool it goes back to."""

    def __init__(self, conn: http.client.HTTPConnection, key: tuple, pool: "Connections") -> None:
        self.conn, self.key, self._pool = conn, key, pool
        self.sock: socket.socket | None = conn.sock  # kept: http.client drops it on "Connection: close"
        self.reused = False

    def release(self) -> None:
        """Back into the idle connections of the thread that read the answer to its end."""
        idle = self._pool._idle().setdefault(self.key, [])
        if len(idle) < 4:
            self.reused = True
            idle.append(self)
        else:
            self.close()

    def close(self) -> None:
        self.conn.close()

    def abort(self) -> None:
        sock = self.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Connections:
    """Idle kept-alive connections, per thread (a thread never waits for another's socket)."""

    def __init__(self, user_agent: str) -> None:
        self._user_agent = user_agent
        self._local = threading.local()
        self._tls_lock = threading.Lock()
        self._tls: Any = None

    def _idle(self) -> dict[tuple, list[Connection]]:
        pool = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._local.pool = {}
        return pool

    def get(self, scheme: str, host: str, port: int, proxy: str | None, connect_timeout: float) -> Connection:
        """An idle connection to that server (through that proxy) that is still open, else a new one."""
        key = (scheme, host, port, proxy)
        idle = self._idle().get(key)
        while idle:
            connection = idle.pop()
            if connection.conn.sock is not None and not _closed_by_server(connection.conn.sock):
                return connection
            connection.close()
        conn = self._new(scheme, host, port, proxy, connect_timeout)
        try:
            conn.connect()
        except (TimeoutError, socket.timeout):
            conn.close()
            raise ConnectTimeout(f"could not connect within {connect_timeout:g} s") from None
        except http.client.HTTPException as exc:  # the proxy refused the tunnel
            conn.close()
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return Connection(conn, key, self)

    def _new(self, scheme: str, host: str, port: int, proxy: str | None,
                        connect_timeout: float) -> http.client.HTTPConnection:
        if proxy is None:
            if scheme == "https":
                return http.client.HTTPSConnection(host, port, timeout=connect_timeout, context=self._tls_context())
            return http.client.HTTPConnection(host, port, timeout=connect_timeout)
        proxy_parts = urlsplit(proxy)
        if proxy_parts.scheme.lower() not in ("http", ""):
            raise InvalidInput(f"only http:// proxies are supported (got {redact_url(proxy)})")
        proxy_host, proxy_port = proxy_parts.hostname or "", proxy_parts.port or 80
        if scheme == "https":
            conn = http.client.HTTPSConnection(proxy_host, proxy_port, timeout=connect_timeout,
                                               context=self._tls_context())
            tunnel_headers = {"User-Agent": self._user_agent}
            proxy_auth = basic_authorization(proxy)
            if proxy_auth:
                tunnel_headers["Proxy-Authorization"] = proxy_auth
            conn.set_tunnel(host, port, headers=tunnel_headers)
            return conn
        return http.client.HTTPConnection(proxy_host, proxy_port, timeout=connect_timeout)

    def _tls_context(self) -> Any:
        """One verifying TLS context for every connection (loading the CA bundle takes a while)."""
        with self._tls_lock:
            if self._tls is None:
                import ssl

                cafile = (os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
                          or os.environ.get("SSL_CERT_FILE"))
                if not cafile:
                    try:
                        import certifi

                        cafile = certifi.where()
                    except ImportError:
                        cafile = None
                self._tls = ssl.create_default_context(cafile=cafile)
            return self._tls


def _closed_by_server(sock: socket.socket) -> bool:
    """An idle kept-alive connection the server has closed (or sent something unasked on)."""
    import select

    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
