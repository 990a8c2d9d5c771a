"""How the emulated VK takes a request: the token, the 3 requests/s window, faults, execute, dispatch to the
method handlers, and reading parameters."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from evosync.clients.vk import WRITE_METHODS
from evosync.sandbox.faults import CALL_PREFIX
from evosync.sandbox.vk_model import (
    BULK_PHOTO_SAVE,
    ERROR_FAULTS,
    PHOTO_SAVE_METHODS,
    HttpAnswer,
    PendingCall,
    VkApiError,
    _Album,
    _Community,
    _Ctx,
    _html_error,
    _invalid,
    _Item,
    _scalar_to_param,
)
from evosync.sandbox.vkscript import MAX_EXECUTE_CALLS, VkScriptCompileError, parse_execute_code

log = logging.getLogger(__name__)


class ProtocolMixin:
    """A part of VkState (evosync/sandbox/vk.py): it uses the state's lock and records."""

    # ------------------------------------------------------------------ the HTTP pipeline
    def handle_request(self, method: str, raw_params: dict[str, str], vk_base: str) -> HttpAnswer | PendingCall:
        """Run one /method/<name> request: checks, faults, rate limit, dispatch (no sleeping here)."""
        params = {k: v for k, v in raw_params.items() if k != "access_token"}
        with self.lock:
            self._stats["requests"] += 1
            if method == "execute":
                self._stats["execute_requests"] += 1
            try:
                ctx = self._check_request(method, raw_params, vk_base)
            except VkApiError as exc:
                return HttpAnswer(200, self._error_body(exc, method, params))

            calls = None
            if method == "execute":
                try:
                    calls = parse_execute_code(params.get("code", ""))
                except VkScriptCompileError as exc:
                    calls = exc
            fault = self._draw_fault(method, calls)
            if fault in ERROR_FAULTS:
                return HttpAnswer(200, self._error_body(VkApiError(ERROR_FAULTS[fault]), method, params))
            if fault == "5xx":
                self._answers_5xx += 1
                status = 502 if self._answers_5xx % 2 else 500
                return HttpAnswer(status, html=_html_error(status))
        sleep = 0.0
        if fault == "timeout":
            sleep = float(self.faults.timeout_seconds)
        elif fault == "slow":
            sleep = float(self.faults.slow_seconds)
        return PendingCall(method, params, ctx, calls, fault, sleep_before=sleep)

    def finish_request(self, pending: PendingCall) -> HttpAnswer:
        """Second half of a request, after any fault sleep: dispatch and answer."""
        method, params, ctx, calls, fault = (
            pending.method,
            pending.params,
            pending.ctx,
            pending.calls,
            pending.fault,
        )
        with self.lock:
            if method == "execute":
                body = self._execute(params, ctx, calls)
            else:
                try:
                    self._call_fault(method)
                    body = {"response": self._dispatch(method, params, ctx)}
                except VkApiError as exc:
                    body = self._error_body(exc, method, params)
        if fault == "drop_after_write":
            return HttpAnswer(502, html=_html_error(502))
        return HttpAnswer(200, body)

    def _check_request(self, method: str, raw_params: dict[str, str], vk_base: str) -> _Ctx:
        if not raw_params.get("v"):
            raise VkApiError(8)
        token = raw_params.get("access_token", "")
        if not token:
            raise VkApiError(5, "no access_token passed.")
        if method != "execute" and method not in self._handlers():
            raise VkApiError(3)
        info = self._tokens.get(token)
        if info is None or info.revoked or (info.expires_at is not None and time.time() >= info.expires_at):
            raise VkApiError(5)
        if self.rate_limit_enabled:
            window = self._windows.setdefault(token, deque())
            now = time.monotonic()
            while window and now - window[0] >= self.rate_window:
                window.popleft()
            if len(window) >= self.rate_limit:
                raise VkApiError(6)
            window.append(now)  # only accepted requests use up the budget
        return _Ctx(token=token, user_id=info.user_id, vk_base=vk_base)

    def _draw_fault(self, method: str, calls: Any) -> str | None:
        fault = self.faults.draw(method)
        if fault is None and isinstance(calls, list):
            # A fault pushed for one method also hits an execute batch that contains it.
            pending_methods = {m for k, m in self.faults.pending if m and not k.startswith(CALL_PREFIX)}
            for call in calls:
                if call.method in pending_methods:
                    fault = self.faults.draw(call.method)
                    break
        if fault is not None:
            faults = self._stats["faults"]
            faults[fault] = faults.get(fault, 0) + 1
        return fault

    def _error_body(self, exc: VkApiError, method: str, params: dict[str, str]) -> dict:
        self._count_error(exc.code)
        request_params = [{"key": "method", "value": method}, {"key": "oauth", "value": "1"}]
        request_params += [{"key": k, "value": v} for k, v in params.items()]
        return {"error": {"error_code": exc.code, "error_msg": exc.msg, "request_params": request_params}}

    def _execute(self, params: dict[str, str], ctx: _Ctx, calls: Any) -> dict:
        self._count_method("execute")
        if "code" not in params:
            return self._error_body(_invalid("code is undefined"), "execute", params)
        if isinstance(calls, VkScriptCompileError):
            return self._error_body(VkApiError(12, str(calls)), "execute", params)
        if len(calls) > MAX_EXECUTE_CALLS:
            return self._error_body(VkApiError(13, "Too many API calls"), "execute", params)
        results: list[Any] = []
        errors: list[dict] = []
        for call in calls:
            inner = {k: s for k, v in call.params.items() if (s := _scalar_to_param(v)) is not None}
            try:
                if call.method == "execute":
                    raise VkApiError(13, "execute cannot be called from execute")
                if call.method == BULK_PHOTO_SAVE and not self.readings.photo_bulk_in_execute:
                    raise VkApiError(15, "Access denied: this method is not available in execute")
                self._call_fault(call.method)
                if call.method in PHOTO_SAVE_METHODS and not self.readings.photo_saves_in_execute:
                    # One reading of VK: upload "save" methods are not available inside execute. The code
                    # is a guess (none is documented); EvoSync must not depend on which one it is.
                    raise VkApiError(15, "Access denied: this method is not available in execute")
                results.append(self._dispatch(call.method, inner, ctx))
            except VkApiError as exc:
                self._count_error(exc.code)
                results.append(False)
                errors.append({"method": call.method, "error_code": exc.code, "error_msg": exc.msg})
        body: dict[str, Any] = {"response": results}
        if errors:
            body["execute_errors"] = errors
        return body

    def _call_fault(self, method: str) -> None:
        """Fail this one call if a call fault was pushed for its method (VK's per-method errors in execute)."""
        kind = self.faults.draw_call(method)
        if kind is None:
            return
        faults = self._stats["faults"]
        faults[CALL_PREFIX + kind] = faults.get(CALL_PREFIX + kind, 0) + 1
        raise VkApiError(int(kind))

    def _count_method(self, method: str) -> None:
        methods = self._stats["methods"]
        methods[method] = methods.get(method, 0) + 1

    def _dispatch(self, method: str, params: dict[str, str], ctx: _Ctx) -> Any:
        self._stats["calls"] += 1
        self._count_method(method)
        handler = self._handlers().get(method)
        if handler is None:
            raise VkApiError(3)
        result = handler(params, ctx)
        if method in WRITE_METHODS:
            self._stats["writes"] += 1
        return result

    def _handlers(self) -> dict[str, Callable[[dict[str, str], _Ctx], Any]]:
        return {
            "groups.getById": self._groups_get_by_id,
            "groups.get": self._groups_get,
            "market.get": self._market_get,
            "market.getById": self._market_get_by_id,
            "market.getAlbums": self._market_get_albums,
            "market.getAlbumById": self._market_get_album_by_id,
            "market.add": self._market_add,
            "market.edit": self._market_edit,
            "market.delete": self._market_delete,
            "market.restore": self._market_restore,
            "market.addAlbum": self._market_add_album,
            "market.editAlbum": self._market_edit_album,
            "market.deleteAlbum": self._market_delete_album,
            "market.addToAlbum": self._market_add_to_album,
            "market.removeFromAlbum": self._market_remove_from_album,
            "market.getCategories": self._market_get_categories,
            "market.getProductPhotoUploadServer": self._get_upload_server,
            "market.saveProductPhoto": self._save_product_photo,
            **({BULK_PHOTO_SAVE: self._save_product_photo_bulk} if self.readings.photo_bulk == "supported" else {}),
            "photos.getMarketUploadServer": self._get_upload_server,
            "photos.saveMarketPhoto": self._save_market_photo_legacy,
            **self._variant_handlers(),
            **self.orders.handlers(),  # market.getGroupOrders, getOrderById, getOrderItems, editOrder
        }

    # ------------------------------------------------------------------ param parsing
    @staticmethod
    def _int(params: dict[str, str], key: str, default: int | None = None, required: bool = False) -> int:
        raw = params.get(key, "").strip()
        if raw == "":
            if required or default is None:
                raise _invalid(f"{key} is undefined")
            return default
        try:
            return int(raw)
        except ValueError:
            raise _invalid(f"{key} not integer") from None

    @staticmethod
    def _int_list(params: dict[str, str], key: str, required: bool = True) -> list[int]:
        raw = params.get(key, "").strip()
        if raw == "":
            if required:
                raise _invalid(f"{key} is undefined")
            return []
        try:
            return [int(part) for part in raw.split(",") if part.strip() != ""]
        except ValueError:
            raise _invalid(f"{key} should be a list of integers") from None

    @staticmethod
    def _price(params: dict[str, str], key: str) -> int:
        raw = params[key].strip()
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise _invalid(f"{key} is not a number") from None
        if not value.is_finite() or value < 0:
            raise _invalid(f"{key} should be a non-negative number")
        return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))

    # ------------------------------------------------------------------ access helpers
    def _community_by_owner(self, params: dict[str, str], ctx: _Ctx, write: bool) -> _Community:
        owner_id = self._int(params, "owner_id", required=True)
        if owner_id >= 0:
            raise _invalid("owner_id should be negative (a community)")
        return self._community_checked(-owner_id, ctx, write)

    def _community_checked(self, group_id: int, ctx: _Ctx, write: bool) -> _Community:
        community = self._communities.get(group_id)
        if community is None:
            raise _invalid("group not found")
        is_admin = ctx.user_id in community.admin_user_ids
        if write and not is_admin:
            raise VkApiError(15, "no access to this community")
        if not is_admin and community.is_closed:
            raise VkApiError(203)
        if not community.market_enabled:
            raise VkApiError(1438)
        return community

    def _item(self, community: _Community, item_id: int) -> _Item:
        item = self._items.get(item_id)
        if item is None or item.owner_id != -community.id or item.removed:
            raise VkApiError(1403)
        return item

    def _album(self, community: _Community, album_id: int) -> _Album:
        album = self._albums.get((community.id, album_id))
        if album is None:
            raise VkApiError(1402)
        return album

    def _items_in(self, group_id: int) -> list[_Item]:
        """Every item of one community, removed ones included, in creation order (an index: a fleet's
        emulator holds 100,000 items, and scanning them all per call made it quadratic)."""
        return list(self._items_of.get(group_id, {}).values())

    def _live_items(self, community: _Community) -> list[_Item]:
        return [i for i in self._items_in(community.id) if not i.removed]

    def _album_size(self, community: _Community, album_id: int) -> int:
        return sum(1 for i in self._live_items(community) if album_id in i.albums_ids)
