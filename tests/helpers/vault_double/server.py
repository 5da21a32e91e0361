"""HTTP layer of the Vault double: a threaded server on 127.0.0.1 speaking Vault's /v1 JSON API.

Authentication and ACL checks happen here, before routing, as in Vault: a request without a valid
`X-Vault-Token` gets 403 `{"errors": ["permission denied"]}` even for a path that does not exist.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.helpers.vault_double import routes_auth, routes_kv, routes_sys
from tests.helpers.vault_double.acl import capabilities
from tests.helpers.vault_double.request import NO_CONTENT, Request
from tests.helpers.vault_double.state import ApiError, DoubleState, permission_denied

log = logging.getLogger(__name__)

# Token self-service that Vault's `default` policy grants; allowed for every valid token here.
_SELF_SERVICE = {"auth/token/lookup-self", "auth/token/revoke-self", "auth/token/renew-self"}


def dispatch(state: DoubleState, req: Request) -> dict[str, Any] | None:
    """Answer one request; raises ApiError for error answers. None means 204 No Content."""
    with state.lock:
        state.requests.append((req.method, req.path))
        answer = routes_sys.handle_unauthenticated(state, req)
        if answer is not None:
            return answer
        login_backend = _aws_login_backend(state, req.path)
        if login_backend is not None:
            return routes_auth.login(state, login_backend, req)
        if not state.initialized:
            raise ApiError(503, "Vault is not initialized")
        token = state.tokens.get(req.headers.get("x-vault-token", ""))
        if token is None:
            raise permission_denied()
        req.token = token
        if req.path not in _SELF_SERVICE:
            _authorize(state, req)
        return _route(state, req)


def _aws_login_backend(state: DoubleState, path: str) -> Any:
    if path.startswith("auth/") and path.endswith("/login"):
        return state.aws.get(path[len("auth/"): -len("login")])
    return None


def _needed(req: Request) -> set[str]:
    return {"GET": {"read"}, "LIST": {"list"}, "DELETE": {"delete"}}.get(req.method, {"create", "update"})


def _authorize(state: DoubleState, req: Request) -> None:
    assert req.token is not None
    if req.token.is_root:
        return
    # Vault evaluates list operations on the path with a trailing slash.
    acl_path = req.path.rstrip("/") + "/" if req.method == "LIST" else req.path
    granted = capabilities(routes_sys.token_rules(state, req.token), acl_path)
    if not granted & _needed(req):
        raise permission_denied()


def _route(state: DoubleState, req: Request) -> dict[str, Any] | None:
    path = req.path
    if path.startswith("sys/"):
        return routes_sys.handle(state, req)
    if path.startswith("auth/token/"):
        return routes_auth.handle_token(state, req, path[len("auth/token/"):])
    if path.startswith("auth/"):
        for auth_mount, backend in state.aws.items():
            if path.startswith(f"auth/{auth_mount}"):
                return routes_auth.handle_aws(state, backend, req, path[len(f"auth/{auth_mount}"):])
        raise ApiError(404, f"no handler for route {path!r}. route entry not found.")
    found = max((m for m in state.mounts if path.startswith(m)), key=len, default=None)
    if found is None:
        raise ApiError(404, f"no handler for route {path!r}. route entry not found.")
    mount = found
    engine = state.mounts[mount]
    if engine.type == "kv" and engine.options.get("version") == "2":
        return routes_kv.handle(state.kv.setdefault(mount, {}), req, path[len(mount):])
    raise ApiError(404, f"the double does not implement {engine.type!r} engines")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _serve(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        method = self.command.upper()
        if method == "GET" and query.get("list") == "true":
            method = "LIST"
        try:
            if not parsed.path.startswith("/v1/"):
                raise ApiError(404, "not found")
            req = Request(method, parsed.path[len("/v1/"):], query,
                          {k.lower(): v for k, v in self.headers.items()}, self._body())
            answer = dispatch(self.server.state, req)
        except ApiError as exc:
            self._send(exc.status, {"errors": exc.errors})
            return
        except Exception:  # a bug in the double: answer 500 like Vault, keep serving
            log.exception("vault double failed on %s %s", method, parsed.path)
            self._send(500, {"errors": ["internal error in the Vault double"]})
            return
        if answer is None:
            self._send(404, {"errors": []})
        elif answer is NO_CONTENT:
            self._send(204, None)
        else:
            self._send(200, answer)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"failed to parse JSON input: {exc}") from exc
        if not isinstance(body, dict):
            raise ApiError(400, "failed to parse JSON input: body must be a JSON object")
        return body

    def _send(self, status: int, payload: dict[str, Any] | None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_LIST = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("vault double: " + format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: DoubleState


class VaultDouble:
    """A running double; `address` is its base URL, `state` its in-memory contents."""

    def __init__(self, root_token: str = "root", initialized: bool = True, seal_type: str = "awskms"):
        self.state = DoubleState(root_token=root_token, initialized=initialized, seal_type=seal_type)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self.state
        self._thread = threading.Thread(target=self._server.serve_forever, name="vault-double", daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> VaultDouble:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> VaultDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
