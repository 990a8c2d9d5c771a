"""The one Flask app of the sandbox: Evotor and VK emulators, image files and /_sandbox control endpoints."""

from __future__ import annotations

import logging

from flask import Flask, Response, abort, jsonify, request

from evosync.sandbox.evotor import IMAGE_FILES_PREFIX, EvotorState
from evosync.sandbox.evotor_http import (
    create_evotor_blueprint,
    create_evotor_files_blueprint,
)
from evosync.sandbox.vk import VkState, create_vk_blueprint
from evosync.sandbox.vk_orders import create_orders_control_blueprint
from evosync.sandbox.vkid import create_vkid_blueprint

log = logging.getLogger(__name__)

DEMO_EVOTOR_TOKEN = "demo-evotor-token"
DEMO_VK_TOKEN = "demo-vk-token"
DEMO_VK_GROUP_ID = 100001
DEMO_VK_GROUP_NAME = "Демо-магазин EvoSync"
DEMO_PRODUCTS_PER_STORE = 30
DEMO_SEED = 2024


def seed_demo(evotor: EvotorState, vk: VkState) -> dict:
    """The demo merchant: 2 Evotor stores with ~60 products, a VK admin and its market-enabled community.

    Idempotent: when the demo Evotor account already exists, nothing is created again.
    """
    try:
        evotor.user_id_for(DEMO_EVOTOR_TOKEN)
    except KeyError:
        evotor.add_account(DEMO_EVOTOR_TOKEN)
        evotor.seed_catalog(
            DEMO_EVOTOR_TOKEN, DEMO_PRODUCTS_PER_STORE, n_stores=2, seed=DEMO_SEED, with_images_ratio=0.4
        )
        vk.add_user(DEMO_VK_TOKEN)
        vk.add_community(
            DEMO_VK_GROUP_ID,
            DEMO_VK_GROUP_NAME,
            admin_tokens=(DEMO_VK_TOKEN,),
            market_enabled=True,
            screen_name="evosync_demo",
            extended_mode=True,  # the demo's T-shirt is one card with a size and colour picker
        )
        log.info("sandbox: demo merchant seeded")
    stores = evotor.stores(DEMO_EVOTOR_TOKEN)
    return {
        "evotor_token": DEMO_EVOTOR_TOKEN,
        "evotor_user_id": evotor.user_id_for(DEMO_EVOTOR_TOKEN),
        "stores": [{"id": s["id"], "name": s["name"], "products": len(evotor.products(s["id"]))} for s in stores],
        "vk_token": DEMO_VK_TOKEN,
        "vk_user_id": vk.token_user(DEMO_VK_TOKEN),
        "vk_group_id": DEMO_VK_GROUP_ID,
        "vk_group_name": DEMO_VK_GROUP_NAME,
    }


def create_sandbox_app(evotor: EvotorState, vk: VkState) -> Flask:
    """Mount both emulators on one app: /evotor, /vk, /vkid, image files, and /_sandbox controls."""
    app = Flask("evosync.sandbox")
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.register_blueprint(create_evotor_blueprint(evotor), url_prefix="/evotor")
    app.register_blueprint(create_evotor_files_blueprint(evotor), url_prefix=IMAGE_FILES_PREFIX)
    app.register_blueprint(create_vk_blueprint(vk), url_prefix="/vk")
    app.register_blueprint(create_vkid_blueprint(vk), url_prefix="/vkid")
    app.register_blueprint(create_orders_control_blueprint(vk))  # /control/vk/orders, /control/vk/callback-server
    _add_control_routes(app, evotor, vk)
    return app


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        abort(400, "JSON object expected")
    return body


def _add_control_routes(app: Flask, evotor: EvotorState, vk: VkState) -> None:
    @app.get("/")
    def index():
        return Response(
            "EvoSync sandbox: Evotor API at /evotor, VK API at /vk/method, VK ID at /vkid, "
            "controls at /_sandbox (stats, faults, reset, demo)\n",
            content_type="text/plain; charset=utf-8",
        )

    @app.get("/_sandbox/health")
    def health():
        return jsonify({"ok": True})

    @app.get("/_sandbox/stats")
    def stats():
        return jsonify({"evotor": evotor.stats, "vk": vk.stats})

    @app.get("/_sandbox/evotor/requests")
    def evotor_requests():
        return jsonify(evotor.logged_requests())

    @app.get("/_sandbox/vk/items")
    def vk_items():
        group_id = request.args.get("group_id", type=int)
        if group_id is None:
            abort(400, "group_id is required")
        return jsonify(vk.items(group_id))

    @app.post("/_sandbox/vk/extended")
    def vk_extended():
        """JSON {"group_id", "on"}: the community's admin switches the extended products mode (VK variants)."""
        body = _json_body()
        try:
            vk.set_extended_mode(int(body["group_id"]), bool(body.get("on", True)))
        except (KeyError, TypeError, ValueError):
            abort(400, "group_id of a known community is required")
        return jsonify({"group_id": int(body["group_id"]), "on": bool(body.get("on", True))})

    @app.post("/_sandbox/faults")
    def faults():
        """JSON {"api": "vk"|"evotor", "rate", "kinds", "seed", "push", "method", "clear",
        "timeout_seconds", "slow_seconds"}; answers the resulting fault settings."""
        body = _json_body()
        api = body.get("api")
        if api not in ("vk", "evotor"):
            abort(400, 'api must be "vk" or "evotor"')
        target = vk.faults if api == "vk" else evotor.faults
        if body.get("clear"):
            target.clear()
        if "rate" in body or "kinds" in body:
            try:
                target.configure(rate=float(body.get("rate", 0.0)), kinds=body.get("kinds", ()), seed=body.get("seed"))
            except (TypeError, ValueError) as exc:
                abort(400, str(exc))
        if body.get("push"):
            target.push(str(body["push"]), body.get("method"))
        for knob in ("timeout_seconds", "slow_seconds"):
            if knob in body:
                setattr(target, knob, float(body[knob]))
        return jsonify(target.snapshot())

    @app.post("/_sandbox/reset")
    def reset():
        evotor.reset()
        vk.reset()
        return jsonify({"ok": True})

    @app.post("/_sandbox/demo")
    def demo():
        return jsonify(seed_demo(evotor, vk))

    @app.post("/_sandbox/evotor/accounts")
    def evotor_account():
        """JSON {"token", "user_id"?} -> {"user_id"}."""
        body = _json_body()
        if not body.get("token"):
            abort(400, "token is required")
        return jsonify({"user_id": evotor.add_account(body["token"], body.get("user_id"))})

    @app.post("/_sandbox/evotor/seed")
    def evotor_seed():
        """JSON {"token", "n_products", "n_stores"?, "seed"?, "with_images_ratio"?} -> summary (for bench)."""
        body = _json_body()
        if not body.get("token") or "n_products" not in body:
            abort(400, "token and n_products are required")
        return jsonify(
            evotor.seed_catalog(
                body["token"],
                int(body["n_products"]),
                n_stores=int(body.get("n_stores", 1)),
                seed=int(body.get("seed", 0)),
                with_images_ratio=float(body.get("with_images_ratio", 0.2)),
            )
        )

    @app.post("/_sandbox/evotor/settings")
    def evotor_settings():
        """JSON with any of page_size, strict_accept, retry_after_seconds, images_list_shape."""
        body = _json_body()
        if "page_size" in body:
            evotor.page_size = max(1, int(body["page_size"]))
        if "strict_accept" in body:
            evotor.strict_accept = bool(body["strict_accept"])
        if "retry_after_seconds" in body:
            evotor.retry_after_seconds = int(body["retry_after_seconds"])
        if "images_list_shape" in body:
            if body["images_list_shape"] not in ("paged", "bare"):
                abort(400, 'images_list_shape must be "paged" or "bare"')
            evotor.images_list_shape = body["images_list_shape"]
        return jsonify(
            {
                "page_size": evotor.page_size,
                "strict_accept": evotor.strict_accept,
                "retry_after_seconds": evotor.retry_after_seconds,
                "images_list_shape": evotor.images_list_shape,
            }
        )

    @app.post("/_sandbox/evotor/stores/<store_id>/payment-required")
    def evotor_payment_required(store_id: str):
        """JSON {"required": true|false}: the store answers 402 while required."""
        try:
            evotor.set_payment_required(store_id, bool(_json_body().get("required", True)))
        except KeyError:
            abort(404, "unknown store")
        return jsonify({"ok": True})

    @app.post("/_sandbox/evotor/tokens/revoke")
    def evotor_revoke():
        token = _json_body().get("token")
        if not token:
            abort(400, "token is required")
        evotor.revoke_token(token)
        return jsonify({"ok": True})

    @app.post("/_sandbox/evotor/stores/<store_id>/products/<product_id>")
    def evotor_update_product(store_id: str, product_id: str):
        """JSON {"token", "fields": {...}}: change a product as the merchant would at the till."""
        body = _json_body()
        fields = body.get("fields") or {}
        if not body.get("token") or not isinstance(fields, dict):
            abort(400, "token and a fields object are required")
        try:
            return jsonify(evotor.update_product(body["token"], store_id, product_id, **fields))
        except KeyError:
            abort(404, "unknown token, store or product")

    @app.delete("/_sandbox/evotor/stores/<store_id>/products/<product_id>")
    def evotor_remove_product(store_id: str, product_id: str):
        token = request.args.get("token") or _json_body().get("token")
        try:
            evotor.remove_product(token or "", store_id, product_id)
        except KeyError:
            abort(404, "unknown token, store or product")
        return jsonify({"ok": True})
