"""A stand-in for the Databricks Apps proxy on loopback: it forwards each request to the app's port as the signed-in
user, the way the platform documents ("Databricks Apps system environment" / "HTTP headers"): X-Forwarded-Email,
X-Forwarded-User, X-Forwarded-Preferred-Username, X-Forwarded-Host, X-Forwarded-Proto, X-Forwarded-For, X-Real-Ip
and X-Request-Id, replacing whatever the browser sent under those names. HTTP only (no websockets).

With `bearer` (a function from an OAuth token to the identity it belongs to, or None) it also stands for the
proxy's answer to scripts: a request carrying `Authorization: Bearer <token>` (databricks-sdk's token for a
notebook's, job's or service principal's identity) goes through as that identity, with the Authorization header
consumed by the proxy; an unknown token gets 401 and never reaches the app."""

from __future__ import annotations

import http.client
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization",
              "proxy-authenticate", "host", "content-length"}


@dataclass(frozen=True)
class User:
    email: str
    user_id: str  # the workspace's id for the user, <id>@<workspace id>
    name: str  # preferred user name

    def forwarded(self) -> dict[str, str]:
        """The identity and request headers the proxy adds to each request of this user's."""
        return {"X-Forwarded-Email": self.email, "X-Forwarded-User": self.user_id,
                "X-Forwarded-Preferred-Username": self.name, "X-Request-Id": str(uuid.uuid4())}


class AppsProxy:
    """`with AppsProxy(app_port, public_host) as proxy:`; `proxy.url`; `proxy.user` is who the next requests are
    from (None: an anonymous request, which the real proxy never lets through)."""

    def __init__(self, app_port: int, public_host: str, bearer: Callable[[str], User | None] | None = None) -> None:
        self.app_port, self.public_host, self.bearer = app_port, public_host, bearer
        self.user: User | None = None
        self.seen: list[dict[str, str]] = []  # the headers the app received
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                user = proxy.user
                if proxy.bearer is not None and self.headers.get("Authorization"):
                    kind, _, token = self.headers["Authorization"].partition(" ")
                    user = proxy.bearer(token) if kind == "Bearer" else None
                    if user is None:
                        self.send_response(401)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in HOP_BY_HOP and not k.lower().startswith(("x-forwarded-", "x-real-"))
                           and not (proxy.bearer is not None and k.lower() == "authorization")}
                headers.update({"X-Forwarded-Host": proxy.public_host, "X-Forwarded-Proto": "https",
                                "X-Forwarded-For": self.client_address[0], "X-Real-Ip": self.client_address[0],
                                "X-Request-Id": str(uuid.uuid4()), "Host": proxy.public_host})
                if user is not None:
                    headers.update(user.forwarded())
                proxy.seen.append(headers)
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.app_port, timeout=120)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                    self.send_response(answer.status)
                    for k, v in answer.getheaders():
                        if k.lower() not in HOP_BY_HOP:
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    upstream.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> AppsProxy:
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
