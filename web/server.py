"""The threading HTTP + WebSocket server (Werkzeug + simple-websocket) for `serve`, `demo` and live tests.

For production, gunicorn with one gthread worker is documented in docs/operations.md; this server is the
built-in choice for one PC and for tests. It sets TCP_NODELAY (Werkzeug does not; without it pushes get
+40 ms tails, RECIPES).
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

logger = logging.getLogger(__name__)


class NoDelayHandler(WSGIRequestHandler):
    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        # A closing WebSocket's frame read as a bad request line ('\x88\x82…', RECIPES): cosmetic.
        logger.debug("http error: " + format, *args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Request lines carry patient ids in paths; keep them at DEBUG.
        logger.debug("%s %s %s", self.command, self.path, code)


class LiveServer:
    """The app served on a thread; ``port=0`` picks a free port. Ready to accept once constructed."""

    def __init__(self, app: Flask, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server: BaseWSGIServer = make_server(host, port, app, threaded=True, request_handler=NoDelayHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="live-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self._server.host}:{self._server.server_port}"

    def start(self) -> LiveServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve_forever(app: Flask, host: str, port: int) -> None:
    """Serve until interrupted (Ctrl-C)."""
    server = make_server(host, port, app, threaded=True, request_handler=NoDelayHandler)
    logger.info("serving on http://%s:%s", host, server.server_port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        logger.info("stopping")
    finally:
        server.server_close()
