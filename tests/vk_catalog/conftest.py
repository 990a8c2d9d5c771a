"""Fixtures of the VK catalog tests: merchants connected to VK communities in the sandbox, and a market builder.

The builder changes a community's market the way VK's own UI or another app would: through a plain
VkClient against the emulator (no limiter; the emulator's 3 req/s rule is switched off while it works).
"""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass, field

import pytest
import requests
from PIL import Image

from evosync.clients.photos import prepare_product_image
from evosync.clients.vk import VkCall, VkClient
from evosync.extensions import db
from evosync.models import ConnectionState, VkConnection
from tests.factories import make_user

CATEGORY = 10001
_group_ids = itertools.count(810001)


def _photo_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 300), (30, 120, 200)).save(out, "PNG")
    return prepare_product_image(out.getvalue())


PHOTO = _photo_bytes()


@dataclass
class Market:
    """One community's market in the emulator, changed through the VK API like VK's UI would."""

    sandbox: object
    token: str
    group_id: int
    client: VkClient = field(init=False)
    session: requests.Session = field(init=False)

    def __post_init__(self) -> None:
        self.session = requests.Session()  # keep-alive: hundreds of uploads in setup stay quick
        self.client = VkClient(self.token, self.sandbox.vk_url, backoff=0.01, session=self.session)

    @property
    def owner_id(self) -> int:
        return -self.group_id

    def _batch(self, calls: list[VkCall]) -> list:
        """Run calls with the emulator's rate rule off (setup is not what is measured); values in order."""
        was = self.sandbox.vk.rate_limit_enabled
        self.sandbox.vk.rate_limit_enabled = False
        try:
            results = self.client.execute_batch(calls)
        finally:
            self.sandbox.vk.rate_limit_enabled = was
        failed = [r.error for r in results if not r.ok]
        assert not failed, failed
        return [r.value for r in results]

    def add_items(self, count: int, *, prefix: str = "Товар", price: str = "199.50", **fields) -> list[int]:
        """Create ``count`` items (each with its own photo); their ids in creation order."""
        was = self.sandbox.vk.rate_limit_enabled
        self.sandbox.vk.rate_limit_enabled = False
        try:
            # One upload address takes many files, as VK's does; each upload becomes its own photo.
            url = self.client.call("market.getProductPhotoUploadServer", group_id=self.group_id)["upload_url"]
            uploads = [
                self.session.post(url, files={"file": ("p.jpg", PHOTO, "image/jpeg")}, timeout=10).text
                for _ in range(count)
            ]
        finally:
            self.sandbox.vk.rate_limit_enabled = was
        if self.sandbox.vk.readings.photo_saves_in_execute:
            saved = self._batch([VkCall("market.saveProductPhoto", {"upload_response": u}) for u in uploads])
        else:  # this reading of VK takes photo saves only as requests of their own
            self.sandbox.vk.rate_limit_enabled = False
            try:
                saved = [self.client.call("market.saveProductPhoto", upload_response=u) for u in uploads]
            finally:
                self.sandbox.vk.rate_limit_enabled = was
        calls = [
            VkCall(
                "market.add",
                {
                    "owner_id": self.owner_id,
                    "name": f"{prefix} {i + 1:04d}",
                    "description": "Описание товара для теста",
                    "category_id": CATEGORY,
                    "price": price,
                    "main_photo_id": s["photo_id"],
                    "sku": f"sku-{self.group_id}-{prefix}-{i + 1}",
                    **fields,
                },
            )
            for i, s in enumerate(saved)
        ]
        return [answer["market_item_id"] for answer in self._batch(calls)]

    def add_album(self, title: str) -> int:
        return self._batch([VkCall("market.addAlbum", {"owner_id": self.owner_id, "title": title})])[0][
            "market_album_id"
        ]

    def call(self, method: str, **params):
        return self._batch([VkCall(method, {"owner_id": self.owner_id, **params})])[0]


@pytest.fixture
def vk_env(app, sandbox):
    """The app pointed at the emulator; the 3 req/s rule is off on both sides unless a test turns it on."""
    app.config["VK_API_URL"] = sandbox.vk_url
    app.config["VK_RATE_LIMIT_PER_SECOND"] = 1000
    sandbox.vk.rate_limit_enabled = False
    return sandbox


@pytest.fixture
def connect_merchant(vk_env):
    """Make a merchant with a VK community of their own, connected as the connections page leaves it."""

    def connect(email: str | None = None, *, name: str = "Магазин", token: str | None = None):
        group_id = next(_group_ids)
        token = token or f"vk1.a.token-{group_id}"
        vk_env.vk.add_user(token)
        vk_env.vk.add_community(group_id, f"{name} {group_id}", admin_tokens=(token,), screen_name=f"shop{group_id}")
        user = make_user(email)
        db.session.add(
            VkConnection(
                user_id=user.id,
                method="token",
                access_token=token,
                group_id=group_id,
                group_name=f"{name} {group_id}",
                group_screen_name=f"shop{group_id}",
                market_enabled=True,
                state=ConnectionState.CONNECTED,
            )
        )
        db.session.commit()
        return user, Market(vk_env, token, group_id)

    return connect
