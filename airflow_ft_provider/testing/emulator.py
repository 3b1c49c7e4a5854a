"""The in-process controller: a real HTTP server on 127.0.0.1 in a daemon thread.

Tests need real sockets (the provider's transport, the official SDKs, connection drops)
yet full control of the state, so uvicorn serves the app from a background thread while
the test thread seeds jobs and reads the log through the same :class:`EmulatorCore`.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

import uvicorn

from airflow_ft_provider.testing.app import EmulatorApp
from airflow_ft_provider.testing.core import EmulatorConfig, EmulatorCore

__all__ = ["Emulator"]


class Emulator(EmulatorCore):
    """Every emulated platform on one port; use as a context manager or start()/stop()."""

    def __init__(self, config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(config)
        self.host = host
        self.port = port
        self.app = EmulatorApp(self)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    def _bind(self) -> socket.socket:
        """Bind before serving, so the port is known and never raced for.

        ``IPPROTO_TCP`` explicitly: asyncio only sets ``TCP_NODELAY`` on accepted sockets
        whose proto says TCP, and without it every keep-alive response stalls ~40 ms
        (Nagle meeting delayed ACKs, uvicorn writing headers and body separately).
        """
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        host = f"[{self.host}]" if family == socket.AF_INET6 else self.host
        self.url = f"http://{host}:{self.port}"
        return sock

    def _server_for(self) -> uvicorn.Server:
        config = uvicorn.Config(
            self.app,
            loop="asyncio",
            lifespan="off",
            log_level="warning",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=1,
            backlog=4096,
        )
        return uvicorn.Server(config)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> Emulator:
        """Serve from a daemon thread; returns once the server accepts connections."""
        if self.running:
            return self
        self._sock = self._bind()
        self._server = self._server_for()
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name=f"ft-emulator-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"emulator failed to start on {self.url}")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit; force it if in-flight requests (a slow fault) hold it up."""
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(0.5)
            if thread.is_alive():
                server.force_exit = True
                thread.join(3.0)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None

    def serve_forever(self, on_bound: Callable[[Emulator], None] | None = None) -> None:
        """Serve in the calling (main) thread until SIGINT/SIGTERM, for the CLI.

        ``on_bound`` runs once the port is bound (``url`` is final), before serving.
        """
        sock = self._bind()
        if on_bound is not None:
            on_bound(self)
        self._server = self._server_for()
        try:
            self._server.run(sockets=[sock])
        finally:
            sock.close()
            self._server = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Emulator({self.url!r}, running={self.running})"
