"""Emulator of the VK API 5.199 methods EvoSync uses: market.*, groups.getById, photo upload, execute.

Faithful to /work/shared/reference/vk-api.md: form-encoded params, arrays as comma-separated strings,
``{"response": ...}`` or ``{"error": {...}}`` at HTTP 200, a 3 requests/s sliding window per token,
negative ``owner_id`` for market.*, one photo id per item, error codes 5/6/8/9/10/12/13/15/100/14xx.
Choices where VK is not documented are spelled out next to the code that makes them.

The state is one object, VkState, in parts: vk_model.py (records, errors, limits), vk_protocol.py (taking a
request), vk_market.py and vk_variants.py (the methods), vk_photos.py (uploads), vk_control.py (setting it up),
vk_orders.py (orders and callbacks), vkid.py (VK ID).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Blueprint, Response, jsonify, request

from evosync.sandbox.faults import Faults
from evosync.sandbox.readings import Readings
from evosync.sandbox.vk_control import ControlMixin
from evosync.sandbox.vk_market import MarketMixin
from evosync.sandbox.vk_model import (
    HttpAnswer,
    _Album,
    _Community,
    _empty_stats,
    _html_error,
    _Item,
    _Photo,
    _Token,
    _Upload,
)
from evosync.sandbox.vk_orders import VkOrders
from evosync.sandbox.vk_photos import PhotosMixin
from evosync.sandbox.vk_protocol import ProtocolMixin
from evosync.sandbox.vk_variants import VariantsMixin
from evosync.sandbox.vkid import VkIdState

log = logging.getLogger(__name__)


class VkState(ControlMixin, ProtocolMixin, MarketMixin, PhotosMixin, VariantsMixin):
    """All VK-side state of the sandbox, guarded by one lock; see sandbox_iface.md for the contract."""

    def __init__(self, seed: int = 0):
        self.lock = threading.RLock()
        self.faults = Faults(seed=seed)
        self.rate_limit = 3
        self.rate_window = 1.0
        self.rate_limit_enabled = True
        self.vkid = VkIdState(self)
        self.readings = Readings()
        # Requests sleeping on a "timeout"/"slow" fault: their writes land after the client gave up (settle()).
        self._delayed = 0
        self._delayed_done = threading.Condition()
        self._init_data()

    def _init_data(self) -> None:
        self._tokens: dict[str, _Token] = {}
        self._user_ids: list[int] = []
        self._communities: dict[int, _Community] = {}
        self._items: dict[int, _Item] = {}
        self._items_of: dict[int, dict[int, _Item]] = {}  # community id -> its items (the same objects), by id
        self._albums: dict[tuple[int, int], _Album] = {}
        self._photos: dict[int, _Photo] = {}
        self._photo_files: dict[str, bytes] = {}  # sha256 -> the bytes, kept once however many photos share them
        self._upload_servers: dict[str, int] = {}  # upload key -> group id
        self._uploads: dict[str, _Upload] = {}  # "photo" field of the upload answer -> upload
        self._windows: dict[str, deque[float]] = {}
        self._stats = _empty_stats()
        self._next_user_id = 10_000_001
        self._next_item_id = 5_000_001
        self._next_photo_id = 457_240_001
        self._answers_5xx = 0
        self._init_variants()
        self._live_per_sku: dict[tuple[int, str], int] = {}  # (owner id, sku) -> items not removed
        self._peak_per_sku: dict[tuple[int, str], int] = {}  # ... the most there ever were at once
        self.orders = VkOrders(self)  # shoppers' orders, the order methods and callbacks (vk_orders.py)

    @contextmanager
    def delayed(self) -> Iterator[None]:
        """Around a request held back by a fault, until its answer (and its write) is done."""
        with self._delayed_done:
            self._delayed += 1
        try:
            yield
        finally:
            with self._delayed_done:
                self._delayed -= 1
                self._delayed_done.notify_all()

    def settle(self, timeout: float = 30.0) -> bool:
        """Wait until no request is held back by a fault: a write whose answer the client stopped waiting for
        (a timeout) has then landed, as it would on VK's side some time later. False if ``timeout`` passed."""
        with self._delayed_done:
            return self._delayed_done.wait_for(lambda: self._delayed == 0, timeout=timeout)

    def reset(self) -> None:
        """Forget every user, community, item, fault, counter and rate-limit window."""
        with self.lock:
            self._init_data()
            self.faults.clear()
            self.rate_limit = 3
            self.rate_window = 1.0
            self.rate_limit_enabled = True
            self.readings = Readings()
            self.vkid.reset()


def _answer(answer: HttpAnswer) -> Response:
    if answer.html is not None:
        return Response(answer.html, status=answer.status, mimetype="text/html")
    response = jsonify(answer.body)
    response.status_code = answer.status
    return response


def create_vk_blueprint(state: VkState) -> Blueprint:
    """Routes of the VK emulator; mount at url_prefix "/vk"."""
    bp = Blueprint("vk_emulator", __name__)

    @bp.route("/method/<name>", methods=["GET", "POST"])
    def method(name: str) -> Response:
        vk_base = request.base_url[: request.base_url.rindex("/method/")]
        params = {key: request.values.get(key, "") for key in request.values}
        first = state.handle_request(name, params, vk_base)
        if isinstance(first, HttpAnswer):
            return _answer(first)
        if not first.sleep_before:
            return _answer(state.finish_request(first))
        with state.delayed():
            time.sleep(first.sleep_before)  # "timeout"/"slow" faults; never under the lock
            return _answer(state.finish_request(first))

    @bp.route("/upload/product_photo", methods=["POST"])
    def upload_product_photo() -> Response:
        fault = None
        if any(m == "upload" for _, m in state.faults.pending):
            fault = state.faults.draw("upload")  # only faults pushed for "upload" hit the upload server
        if fault == "5xx":
            return Response(_html_error(502), status=502, mimetype="text/html")
        if fault in ("timeout", "slow"):
            time.sleep(state.faults.timeout_seconds if fault == "timeout" else state.faults.slow_seconds)
        result = state.receive_upload(request.args.get("k", ""), _uploaded_files(request.files))
        return jsonify(result)

    @bp.route("/photo/<int:photo_id>")
    def photo_file(photo_id: int) -> Response:
        found = state.photo_file(photo_id)
        if found is None:
            return Response("not found", status=404, mimetype="text/plain")
        data, mimetype = found
        return Response(data, mimetype=mimetype)

    return bp


def _uploaded_files(files) -> list[bytes]:
    """The files of an upload: ``file``, then ``file1``, ``file2``... in number order (a bulk upload)."""
    numbered = []
    for name in files:
        if name == "file":
            numbered.append((0, name))
        elif name.startswith("file") and name[4:].isdigit():
            numbered.append((int(name[4:]), name))
    return [files[name].read() for _, name in sorted(numbered)]
