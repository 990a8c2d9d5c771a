"""Client of the VK API (5.199) for VK Market: calls, ``execute`` batches, paged reads, photo uploads.

Implements https://dev.vk.com/en/api/api-requests, https://dev.vk.com/ru/execute, the market.* methods
(https://dev.vk.com/en/method/market) and the product-photo upload flow; facts we rely on are in
shared/reference/vk-api.md.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import requests
from urllib3.exceptions import NewConnectionError

from evosync.clients.errors import (
    VkApiError,
    VkAuthError,
    VkFloodControl,
    VkInternalError,
    VkTooManyRequests,
    VkTransportError,
    VkUploadRefused,
    vk_error_for,
)
from evosync.clients.ratelimit import Limiter, NullLimiter

log = logging.getLogger(__name__)

# Methods that change something in VK (the one list: the sandbox counts its writes by it too). A lost answer to
# one of these may still have been applied, so the client never resends them on a timeout/5xx
# (VkTransportError.maybe_applied tells the caller).
WRITE_METHODS: frozenset[str] = frozenset(
    {
        "market.add",
        "market.edit",
        "market.delete",
        "market.restore",
        "market.addAlbum",
        "market.editAlbum",
        "market.deleteAlbum",
        "market.addToAlbum",
        "market.removeFromAlbum",
        "market.reorderItems",
        "market.reorderAlbums",
        "market.saveProductPhoto",
        "market.saveProductPhotoBulk",
        "photos.saveMarketPhoto",
        "photos.saveMarketAlbumPhoto",
        "market.addProperty",
        "market.editProperty",
        "market.deleteProperty",
        "market.addPropertyVariant",
        "market.editPropertyVariant",
        "market.deletePropertyVariant",
        "market.groupItems",
        "market.ungroupItems",
        "market.editOrder",
    }
)

EXECUTE_MAX_CALLS = 25  # VK's cap on API calls inside one execute
FLOOD_CONTROL_PAUSE = 10.0  # seconds before resending after error 9, when the caller allows it
TOO_MANY_REQUESTS_PAUSE = 0.4  # seconds before resending after error 6 (a second's budget refills soon)
UNKNOWN_METHOD = 3
_METHOD_NAME = re.compile(r"^[A-Za-z]+\.[A-Za-z]+$")


def is_write(method: str) -> bool:
    """Whether ``method`` changes state in VK (see WRITE_METHODS)."""
    return method in WRITE_METHODS


def _plain(value: Any) -> Any:
    """One parameter as VK wants it: bools 1/0, numbers kept, lists comma-joined, the rest a string."""
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, int | float):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        value = sorted(value)
    if isinstance(value, list | tuple):
        return ",".join(str(_plain(v)) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def vk_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters ready for VK: None dropped, every value made plain (see ``_plain``)."""
    return {key: _plain(value) for key, value in params.items() if value is not None}


@dataclass
class VkCall:
    """One API call to run inside an ``execute`` batch; ``tag`` is the caller's, handed back untouched."""

    method: str
    params: dict[str, Any]
    tag: Any = None


@dataclass
class VkCallResult:
    """What one batched call gave: ``value`` when ``ok``, else ``error``."""

    call: VkCall
    value: Any = None
    error: VkApiError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def build_execute_code(calls: Sequence[VkCall]) -> str:
    """VKScript for ``execute``: ``return [API.m1({json}),API.m2({json})];`` in the calls' order."""
    if not calls:
        raise ValueError("an execute batch needs at least one call")
    if len(calls) > EXECUTE_MAX_CALLS:
        raise ValueError(f"an execute batch takes at most {EXECUTE_MAX_CALLS} calls, got {len(calls)}")
    parts = []
    for call in calls:
        if not _METHOD_NAME.match(call.method):  # the name is pasted into code: allow only a.b
            raise ValueError(f"not a VK method name: {call.method!r}")
        args = json.dumps(vk_params(call.params), ensure_ascii=False, separators=(",", ":"))
        parts.append(f"API.{call.method}({args})")
    return "return [" + ",".join(parts) + "];"


def split_execute_response(calls: Sequence[VkCall], response: Any, execute_errors: Any) -> list[VkCallResult]:
    """Match an execute answer to its calls: the i-th ``false`` takes the i-th ``execute_errors`` entry.

    Raises ValueError when the answer is not a list with one result per call.
    """
    if not isinstance(response, list) or len(response) != len(calls):
        raise ValueError(f"execute answered {type(response).__name__} for {len(calls)} calls")
    errors = iter(execute_errors if isinstance(execute_errors, list) else [])
    results = []
    for call, value in zip(calls, response, strict=True):
        if value is False:
            entry = next(errors, None)
            if isinstance(entry, dict):
                error = vk_error_for(
                    entry.get("error_code"), entry.get("error_msg"), entry.get("method") or call.method
                )
            else:
                error = VkApiError(1, "call failed inside execute without an execute_errors entry", call.method)
            results.append(VkCallResult(call, error=error))
        else:
            results.append(VkCallResult(call, value=value))
    return results


def upload_server_call(group_id: int, *, bulk: bool = False) -> VkCall:
    """The call that asks for a product-photo upload address (alone, or 25 to an ``execute``)."""
    return VkCall("market.getProductPhotoUploadServer", {"group_id": group_id, **({"bulk": 1} if bulk else {})})


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the connection was never made, so not even a write can have reached VK."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


class VkClient:
    """Talks to the VK API with one user token, under a (shared) rate limiter.

    Retries inline: error 6 after a short pause, error 10 and transport failures of reads with
    exponential backoff; never a write whose fate is unknown. On error 5, ``token_refresher`` (if any)
    is asked once for a new token. ``requests_made`` counts HTTP requests to the API methods and
    ``uploads_made`` the multipart photo uploads.
    """

    def __init__(
        self,
        token: str,
        base_url: str,
        *,
        version: str = "5.199",
        session: requests.Session | None = None,
        timeout: float = 10.0,
        limiter: Limiter | None = None,
        max_retries: int = 3,
        token_refresher: Callable[[], str | None] | None = None,
        backoff: float = 0.5,
        too_many_pause: float = TOO_MANY_REQUESTS_PAUSE,
        flood_retries: int = 0,
        flood_pause: float = FLOOD_CONTROL_PAUSE,
    ):
        self._token = token
        self.base_url = base_url.rstrip("/")
        self.version = version
        self.session = session or requests.Session()
        self.timeout = timeout
        self.limiter = limiter or NullLimiter()
        self.max_retries = max_retries
        self.token_refresher = token_refresher
        self.backoff = backoff
        self.too_many_pause = too_many_pause
        self.flood_retries = flood_retries
        self.flood_pause = flood_pause
        self.requests_made = 0
        self.uploads_made = 0

    def __repr__(self) -> str:  # never show the token
        return f"VkClient(base_url={self.base_url!r}, version={self.version!r})"

    # ------------------------------------------------------------------------------------------ calls

    def call(self, method: str, **params: Any) -> Any:
        """Run one API method and return its ``response``; errors raise a VkApiError subclass."""
        return self._request(method, vk_params(params), write=is_write(method))["response"]

    def execute_batch(self, calls: Iterable[VkCall]) -> list[VkCallResult]:
        """Run many calls in ``execute`` requests of at most 25; one result per call, in order."""
        return list(self.iter_batch(calls))

    def iter_batch(self, calls: Iterable[VkCall]) -> Iterator[VkCallResult]:
        """Like ``execute_batch`` but yields each chunk's results as soon as it is answered.

        A whole-request error (other than 6, which is retried) raises for the chunk being sent;
        results of earlier chunks were already yielded, so a caller recording them loses nothing.
        """
        chunk: list[VkCall] = []
        for call in calls:
            chunk.append(call)
            if len(chunk) == EXECUTE_MAX_CALLS:
                yield from self._execute_chunk(chunk)
                chunk = []
        if chunk:
            yield from self._execute_chunk(chunk)

    def _execute_chunk(self, chunk: list[VkCall]) -> list[VkCallResult]:
        write = any(is_write(call.method) for call in chunk)
        body = self._request("execute", {"code": build_execute_code(chunk)}, write=write)
        try:
            return split_execute_response(chunk, body.get("response"), body.get("execute_errors"))
        except ValueError as exc:
            raise VkTransportError(str(exc), "execute", maybe_applied=write) from exc

    # ------------------------------------------------------------------------------------------ reads

    def iter_items(
        self, owner_id: int, extended: bool = True, count: int = 200, with_disabled: bool = True
    ) -> Iterator[dict]:
        """Every market item of ``owner_id`` (negative community id), over offset pages."""
        params = {"owner_id": owner_id, "extended": extended, "with_disabled": with_disabled}
        return self._iter_offset_pages("market.get", params, count)

    def iter_albums(self, owner_id: int, count: int = 100) -> Iterator[dict]:
        """Every market album of ``owner_id`` (negative community id), over offset pages."""
        return self._iter_offset_pages("market.getAlbums", {"owner_id": owner_id}, count)

    def _iter_offset_pages(self, method: str, params: dict[str, Any], count: int) -> Iterator[dict]:
        offset = 0
        while True:
            page = self.call(method, **params, count=count, offset=offset)
            items = page.get("items") if isinstance(page, dict) else None
            if not isinstance(items, list):
                raise VkTransportError(f"{method} answered without an items list", method)
            yield from items
            offset += len(items)
            if not items or offset >= int(page.get("count") or 0):
                return

    def get_categories(self) -> list[dict]:
        """VK's market category tree (``[{id, name, children?}]``)."""
        answer = self.call("market.getCategories")
        return answer.get("items", []) if isinstance(answer, dict) else list(answer or [])

    def get_group(self, group_id_or_name: int | str) -> dict:
        """One community (by id or screen name), with its ``market`` settings when VK gives them."""
        answer = self.call("groups.getById", group_id=group_id_or_name, fields="market")
        # 5.194+ wraps the list in {"groups": [...]}; older versions answer the bare list.
        groups = answer.get("groups") if isinstance(answer, dict) else answer
        if not groups or not isinstance(groups[0], dict):
            raise VkApiError(100, f"community {group_id_or_name!r} not found", "groups.getById")
        return groups[0]

    def get_admin_groups(self) -> list[dict]:
        """Communities the token's user administers or edits (groups.get filter=admin,editor, extended)."""
        params = {"filter": "admin,editor", "extended": 1, "fields": "market"}
        return list(self._iter_offset_pages("groups.get", params, 1000))

    # ------------------------------------------------------------------------------------------ photos

    def upload_product_photo(self, group_id: int, image_bytes: bytes) -> int:
        """Upload one product photo to community ``group_id`` (positive); its photo id (one item only).

        New flow: market.getProductPhotoUploadServer -> multipart ``file`` -> market.saveProductPhoto.
        The legacy photos.*MarketPhoto flow is used only if VK does not know the new method (error 3).
        """
        try:
            server = self.call("market.getProductPhotoUploadServer", group_id=group_id)
        except VkApiError as exc:
            if exc.code != UNKNOWN_METHOD:
                raise
            return self._upload_legacy_photo(group_id, image_bytes)
        uploaded = self.upload_photo_file(server["upload_url"], image_bytes)
        saved = self.call("market.saveProductPhoto", upload_response=uploaded)
        return int(saved.get("photo_id") or saved["id"]) if isinstance(saved, dict) else int(saved)

    def photo_upload_url(self, group_id: int, *, bulk: bool = False) -> str:
        """An upload server address for product photos of ``group_id`` (``bulk``: for several files at once).

        Whether VK lets one address take many uploads is not documented; the sync finds out (apply_photos.py).
        """
        ask = upload_server_call(group_id, bulk=bulk)
        return self.call(ask.method, **ask.params)["upload_url"]

    def upload_photo_file(self, upload_url: str, image_bytes: bytes) -> str:
        """Upload one prepared photo; the raw JSON to hand to market.saveProductPhoto (batchable in execute)."""
        return self._upload_file(upload_url, {"file": ("photo.jpg", image_bytes, "image/jpeg")})

    def upload_photo_files(self, upload_url: str, images: Sequence[bytes]) -> str:
        """Upload several prepared photos in one POST to a ``bulk`` address, as fields ``file1``..``fileN``;
        the raw JSON to hand to market.saveProductPhotoBulk, which answers one photo per file, in file order."""
        files = {f"file{n}": (f"photo{n}.jpg", data, "image/jpeg") for n, data in enumerate(images, start=1)}
        return self._upload_file(upload_url, files)

    def _upload_legacy_photo(self, group_id: int, image_bytes: bytes) -> int:
        server = self.call("photos.getMarketUploadServer", group_id=group_id, main_photo=1)
        uploaded = json.loads(self.upload_photo_file(server["upload_url"], image_bytes))
        fields = ("photo", "server", "hash", "crop_data", "crop_hash")
        saved = self.call("photos.saveMarketPhoto", group_id=group_id, **{k: uploaded.get(k) for k in fields})
        return int(saved[0]["id"])

    def _upload_file(self, upload_url: str, files: dict[str, tuple[str, bytes, str]]) -> str:
        """POST the photos as multipart ``files``; the upload server's raw JSON text; safe to retry."""
        attempt = 0
        while True:
            try:
                self.uploads_made += 1
                response = self.session.post(upload_url, files=files, timeout=self.timeout)
                failure = None if response.status_code < 500 else f"HTTP {response.status_code}"
            except (requests.Timeout, requests.ConnectionError) as exc:
                failure = type(exc).__name__
            if failure is None:
                break
            if attempt >= self.max_retries:
                raise VkTransportError(f"photo upload: {failure}", "upload")
            self._sleep_backoff(attempt)
            attempt += 1
        try:
            body = response.json()
        except ValueError as exc:
            raise VkTransportError(f"photo upload answered HTTP {response.status_code}, not JSON", "upload") from exc
        if response.status_code >= 400 or not isinstance(body, dict) or "error" in body:
            detail = body.get("error") if isinstance(body, dict) else body
            raise VkUploadRefused(str(detail))
        return response.text

    # ------------------------------------------------------------------------------------------ transport

    def _request(self, method: str, params: dict[str, Any], write: bool) -> dict:
        """POST ``method`` with the retry policy; the whole answer body (``response`` plus extras)."""
        attempt = 0
        floods = 0
        refreshed = False
        while True:
            try:
                return self._post_once(method, params, write)
            except VkFloodControl as exc:
                # 9 refuses the request (nothing was applied), so even a write may be sent again after a pause;
                # 29 (a daily limit) and a flood that persists stop the caller's run.
                if exc.code != 9 or floods >= self.flood_retries:
                    raise
                floods += 1
                log.warning("vk %s: flood control, pause %.1fs then retry %d", method, self.flood_pause, floods)
                time.sleep(self.flood_pause * (1 + 0.25 * random.random()))
            except (VkTooManyRequests, VkInternalError, VkTransportError) as exc:
                if not exc.retryable or getattr(exc, "maybe_applied", False) or attempt >= self.max_retries:
                    raise
                log.warning("vk %s: %s, retry %d", method, exc.message, attempt + 1)
                if isinstance(exc, VkTooManyRequests):
                    time.sleep(self.too_many_pause * (1 + 0.25 * random.random()))
                else:
                    self._sleep_backoff(attempt)
                attempt += 1
            except VkAuthError:
                if refreshed or self.token_refresher is None:
                    raise
                refreshed = True
                try:
                    new_token = self.token_refresher()
                except Exception as exc:  # a failed refresh (VK ID) is an auth failure
                    log.info("vk %s: token refresh failed: %s", method, type(exc).__name__)
                    raise VkAuthError(5, f"token refresh failed: {exc}", method) from exc
                if not new_token or new_token == self._token:
                    raise
                log.info("vk %s: token refreshed after error 5, retrying", method)
                self._token = new_token

    def _post_once(self, method: str, params: dict[str, Any], write: bool) -> dict:
        data = {**params, "access_token": self._token, "v": self.version}
        slot = self.limiter.acquire()
        try:
            self.requests_made += 1
            response = self.session.post(f"{self.base_url}/{method}", data=data, timeout=self.timeout)
        except (requests.Timeout, requests.ConnectionError) as exc:
            maybe = write and not _never_sent(exc)
            raise VkTransportError(type(exc).__name__, method, maybe_applied=maybe) from exc
        finally:
            self.limiter.finish(slot)
        if response.status_code >= 500:
            raise VkTransportError(f"HTTP {response.status_code}", method, maybe_applied=write)
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200:
            # A 4xx is a wrong url or a refused request: nothing was applied, and resending will not help.
            raise VkTransportError(f"HTTP {response.status_code}", method, retryable=False)
        if not isinstance(body, dict):
            raise VkTransportError("answer is not a JSON object", method, maybe_applied=write)
        if "error" in body:
            err = body["error"] if isinstance(body["error"], dict) else {}
            error = vk_error_for(err.get("error_code"), err.get("error_msg"), method)
            log.info("vk %s: error %s %s", method, error.code, error.message)
            raise error
        if "response" not in body:
            raise VkTransportError("answer has neither response nor error", method, maybe_applied=write)
        return body

    def _sleep_backoff(self, attempt: int) -> None:
        time.sleep(self.backoff * (2**attempt) * (1 + random.random()))
