"""Emulators of the Evotor and VK APIs on one local HTTP server, for the demo, tests and benchmarks."""

from __future__ import annotations

import logging
import threading

from werkzeug.serving import BaseWSGIServer, make_server

from evosync.sandbox.evotor import EvotorState
from evosync.sandbox.readings import Readings
from evosync.sandbox.server import create_sandbox_app, seed_demo
from evosync.sandbox.vk import VkState

__all__ = ["EvotorState", "Readings", "Sandbox", "VkState"]

log = logging.getLogger(__name__)


class Sandbox:
    """Both emulators behind one threaded werkzeug server on a loopback port (see notes/sandbox_iface.md).

    >>> sb = Sandbox(seed=1).start()   # doctest: +SKIP
    >>> requests.get(sb.evotor_url + "/stores", headers=...)   # doctest: +SKIP
    >>> sb.stop()   # doctest: +SKIP
    """

    def __init__(self, seed: int = 0, host: str = "127.0.0.1", port: int = 0, ssl_context=None):
        self.seed = seed
        self.ssl_context = ssl_context  # an ssl.SSLContext: serve HTTPS (e.g. behind a private CA in tests)
        self.host = host
        self.port = port  # 0: a free port is chosen at start()
        self.evotor = EvotorState(seed=seed)
        self.vk = VkState(seed=seed)
        self.app = create_sandbox_app(self.evotor, self.vk)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Sandbox:
        """Listen on host:port (a free port when 0) in a daemon thread; returns self."""
        if self._server is not None:
            return self
        self._server = make_server(self.host, self.port, self.app, threaded=True, ssl_context=self.ssl_context)
        self.port = self._server.server_port
        self.evotor.public_base_url = self.base_url
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"sandbox:{self.port}", daemon=True)
        self._thread.start()
        log.info("sandbox listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def base_url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://{self.host}:{self.port}"

    @property
    def evotor_url(self) -> str:
        """EVOTOR_API_URL for the app: ``GET {evotor_url}/stores``."""
        return self.base_url + "/evotor"

    @property
    def vk_url(self) -> str:
        """VK_API_URL for the app: ``POST {vk_url}/market.add``."""
        return self.base_url + "/vk/method"

    @property
    def vkid_url(self) -> str:
        """VK_ID_URL for the app: ``GET {vkid_url}/authorize``, ``POST {vkid_url}/oauth2/auth``."""
        return self.base_url + "/vkid"

    def reset(self) -> None:
        """Clear all state, faults, counters and rate-limit windows of both emulators."""
        self.evotor.reset()
        self.vk.reset()
        if self.running:
            self.evotor.public_base_url = self.base_url

    @property
    def readings(self) -> Readings:
        """The open behaviours both emulators currently follow (see readings.py)."""
        return Readings(
            **{
                **self.vk.readings.__dict__,
                "evotor_auth_header": self.evotor.auth_header,
                "evotor_retry_after": self.evotor.retry_after_reading,
            }
        )

    def set_readings(self, readings: Readings) -> None:
        """Follow ``readings`` from now on (``reset()`` goes back to the defaults)."""
        self.vk.readings = readings
        self.evotor.auth_header = readings.evotor_auth_header
        self.evotor.retry_after_reading = readings.evotor_retry_after

    def seed_demo(self) -> dict:
        """Create the demo merchant (see server.seed_demo); returns its tokens, stores and group id."""
        return seed_demo(self.evotor, self.vk)

    def serve_forever(self) -> None:
        """Start (if needed) and block until interrupted (KeyboardInterrupt), then stop."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
