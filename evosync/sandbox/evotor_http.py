"""The Evotor emulator's HTTP side: authorization, Accept checks, cursors and paging, faults, and the routes (the
API under /evotor and the image files); the state it serves is EvotorState (sandbox/evotor.py)."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable

from flask import Blueprint, Response, request

from evosync.sandbox.evotor import (
    V2_MEDIA_TYPE,
    EvotorState,
)
from evosync.sandbox.evotor_model import EvotorApiError, OrderedRecords, StoreRecords

log = logging.getLogger(__name__)


def _encode_cursor(payload: dict) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> dict:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise EvotorApiError(400, "Invalid cursor", [{"reason": "invalid", "subject": "cursor"}]) from exc
    if not isinstance(payload, dict):
        raise EvotorApiError(400, "Invalid cursor", [{"reason": "invalid", "subject": "cursor"}])
    return payload


def _json(body, status: int = 200, headers: dict | None = None) -> Response:
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    content_type = V2_MEDIA_TYPE + ";charset=UTF-8" if status < 400 else "application/json;charset=UTF-8"
    return Response(data, status=status, headers=headers or {}, content_type=content_type)


def _accept_ok(header: str | None, strict: bool) -> bool:
    if header is None or not header.strip():
        return True
    types = {part.split(";")[0].strip().lower() for part in header.split(",")}
    if V2_MEDIA_TYPE in types:
        return True
    return not strict and bool(types & {"*/*", "application/*", "application/json"})


def _token_from_request(accepted: str = "both") -> str | None:
    """The token from the header(s) this emulator accepts (``accepted``: both, x-authorization or bearer)."""
    if accepted in ("both", "x-authorization"):
        token = request.headers.get("X-Authorization", "").strip()
        if token:
            return token
    if accepted in ("both", "bearer"):
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer ") and auth[7:].strip():
            return auth[7:].strip()
    return None


def create_evotor_blueprint(state: EvotorState) -> Blueprint:
    """The Evotor API routes (mount at /evotor so ``EVOTOR_API_URL`` = base_url + "/evotor")."""
    bp = Blueprint("evotor", __name__)

    def apply_fault(route: str) -> None:
        kind = state.faults.draw(route)
        if kind is None:
            return
        log.debug("evotor emulator: injecting fault %s on %s", kind, route)
        if kind == "slow":
            time.sleep(state.faults.slow_seconds)
        elif kind == "timeout":
            time.sleep(state.faults.timeout_seconds)
            raise EvotorApiError(504, "Gateway Timeout")
        elif kind == "429":
            raise EvotorApiError(429, "Too Many Requests", headers={"Retry-After": str(state.retry_after_seconds)})
        elif kind in ("5xx", "500"):
            raise EvotorApiError(500, "Internal Server Error")
        elif kind in ("502", "503", "504"):
            raise EvotorApiError(int(kind), "Service temporarily unavailable")
        else:
            raise EvotorApiError(500, f"Injected fault {kind}")

    def authorize() -> str:
        token = _token_from_request(state.auth_header)
        if not token:
            raise EvotorApiError(401, "Authorization token is missing")
        with state._lock:
            if token in state._revoked or token not in state._tokens:
                raise EvotorApiError(401, "Invalid or revoked token")
            return state._tokens[token]

    def store_for(user_id: str, store_id: str) -> StoreRecords:
        store = state._stores.get(store_id)
        # Another account's store is indistinguishable from a missing one.
        if store is None or store.record["user_id"] != user_id:
            raise EvotorApiError(404, f"Store {store_id} not found")
        if store.payment_required:
            raise EvotorApiError(402, "Payment Required: the application is not paid for on this store")
        return store

    def paged(records: OrderedRecords, kind: str, owner: str, keep=None, since=None, shape=None) -> dict:
        cursor = request.args.get("cursor")
        start = 0
        if cursor:
            payload = _decode_cursor(cursor)
            if (payload.get("k"), payload.get("o"), payload.get("e")) != (kind, owner, state._epoch):
                raise EvotorApiError(400, "Invalid cursor", [{"reason": "invalid", "subject": "cursor"}])
            start = int(payload.get("i", 0))
            since = payload.get("s")
            if since is not None:
                keep = _since_filter(since)
        items, resume = records.page(start, max(1, state.page_size), keep)
        paging = {}
        if resume is not None:
            paging["next_cursor"] = _encode_cursor({"k": kind, "o": owner, "i": resume, "s": since, "e": state._epoch})
        return {"items": [shape(r) if shape else state._public(r) for r in items], "paging": paging}

    def handle(route: str, fault_name: str, view: Callable[[str], object]) -> Response:
        with state._lock:
            state._requests += 1
            state._paths[route] += 1
        try:
            apply_fault(fault_name)
            if not _accept_ok(request.headers.get("Accept"), state.strict_accept):
                raise EvotorApiError(406, f"Not Acceptable: use Accept: {V2_MEDIA_TYPE}")
            user_id = authorize()
            if state.over_rate(_token_from_request(state.auth_header) or ""):
                raise EvotorApiError(429, "Too Many Requests", headers=state.rate_limit_headers())
            with state._lock:
                body = view(user_id)
            response = _json(body)
        except EvotorApiError as error:
            body = {"code": error.status, "message": error.message}
            if error.violations is not None:
                body["violations"] = error.violations
            response = _json(body, error.status, error.headers)
        state._count(request.method, request.full_path.rstrip("?"), route, response.status_code)
        return response

    @bp.get("/stores")
    def list_stores():
        return handle(
            "GET /stores",
            "stores",
            lambda user_id: paged(state._user_stores.get(user_id, OrderedRecords()), "stores", user_id),
        )

    @bp.get("/stores/<store_id>/product-groups")
    def list_groups(store_id: str):
        def view(user_id):
            store = store_for(user_id, store_id)
            return paged(store.groups, "groups", store_id)

        return handle("GET /stores/{store_id}/product-groups", "product-groups", view)

    @bp.get("/stores/<store_id>/products")
    def list_products(store_id: str):
        def view(user_id):
            store = store_for(user_id, store_id)
            since = _parse_since(request.args.get("since"))
            keep = _since_filter(since) if since is not None else None
            return paged(store.products, "products", store_id, keep=keep, since=since)

        return handle("GET /stores/{store_id}/products", "products", view)

    @bp.get("/stores/<store_id>/products/<product_id>")
    def get_product(store_id: str, product_id: str):
        def view(user_id):
            record = store_for(user_id, store_id).products.items.get(product_id)
            if record is None:
                raise EvotorApiError(404, f"Product {product_id} not found")
            return state._public(record)

        return handle("GET /stores/{store_id}/products/{product_id}", "product", view)

    @bp.get("/stores/<store_id>/products/<product_id>/images")
    def list_images(store_id: str, product_id: str):
        def view(user_id):
            store = store_for(user_id, store_id)
            if product_id not in store.products.items:
                raise EvotorApiError(404, f"Product {product_id} not found")
            images = store.images.get(product_id, OrderedRecords())
            base_url = request.host_url
            if state.images_list_shape == "bare":
                return [state._public_image(r, base_url, camel_case=True) for r in images]
            return paged(images, "images", product_id, shape=lambda r: state._public_image(r, base_url))

        return handle("GET /stores/{store_id}/products/{product_id}/images", "images", view)

    return bp


def create_evotor_files_blueprint(state: EvotorState) -> Blueprint:
    """Image files behind the ``url`` of each image (mount at IMAGE_FILES_PREFIX); no auth, like a CDN."""
    bp = Blueprint("evotor_files", __name__)

    @bp.get("/<image_id>.png")
    def image_file(image_id: str):
        data = state.image_bytes(image_id)
        if data is None:
            return Response("not found", status=404, content_type="text/plain")
        return Response(data, content_type="image/png", headers={"Cache-Control": "public, max-age=86400"})

    return bp


def _parse_since(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        since = int(raw)
    except ValueError as exc:
        raise EvotorApiError(
            400, "Validation error", [{"reason": "must be epoch milliseconds", "subject": "since"}]
        ) from exc
    if since < 0:
        raise EvotorApiError(400, "Validation error", [{"reason": "must not be negative", "subject": "since"}])
    return since


def _since_filter(since: int) -> Callable[[dict], bool]:
    return lambda record: record["_updated_ms"] > since
