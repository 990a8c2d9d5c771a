"""The merchant's sync settings: load with defaults, validate, save; VK market categories for the picker."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from flask import current_app

from ...clients.errors import VkApiError
from ...clients.vk_categories import CATEGORY_TREE
from ...extensions import db
from ...models import SyncConfig, User
from ...redis_conn import get_redis
from ..audit import record as audit
from ..connection_problems import NotConnectedError
from ..connections import get_vk_connection, vk_client_for
from . import mapping
from . import plan_model as p

log = logging.getLogger(__name__)

MARKUP_MIN, MARKUP_MAX = Decimal(-50), Decimal(1000)
TEMPLATE_MAX = 2000
PLACEHOLDERS = ("name", "article", "code", "measure", "price")
ROUNDING_CHOICES = mapping.ROUNDING_CHOICES
OUT_OF_STOCK_CHOICES = ("unavailable", "remove", "keep")
REMOVAL_CHOICES = ("delete", "unavailable", "leave")

CATEGORIES_KEY = "evosync:vk:categories"
CATEGORIES_TTL = 24 * 3600  # VK's category tree changes a few times a year
CATEGORIES_FAILED_KEY = "evosync:vk:categories:failed:{user_id}"
CATEGORIES_RETRY_AFTER = 300  # after a failed fetch, serve the fallback this long before asking VK again

_PLACEHOLDER = re.compile(r"\{(\w*)\}")

# Used when VK cannot be asked (not connected, down): a slice of VK's real tree, ids as VK numbers them.
FALLBACK_CATEGORIES = CATEGORY_TREE


@dataclass
class Category:
    id: int
    name: str
    section: str  # "" for a category outside any section


@dataclass
class SettingsValues:
    """What the settings page edits; the same fields as SyncConfig."""

    markup_percent: Decimal = Decimal(0)
    price_rounding: str = "none"
    out_of_stock: str = "unavailable"
    removal: str = "delete"
    category_id: int | None = None
    description_template: str = ""
    albums_enabled: bool = True
    publish_services: bool = True
    auto_sync: bool = True
    publish_alcohol: bool = False
    publish_tobacco: bool = False
    vk_owned: frozenset[str] = frozenset()  # names of mapping.VK_OWNABLE_FIELDS
    group_by_name: bool = False  # flat products named "Base (Flavour)" as one VK card each


class InvalidSettings(ValueError):
    """Field name -> message in the merchant's words (untranslated msgids)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


# ------------------------------------------------------------------------------------------------ settings


def default_category_id() -> int:
    return int(current_app.config.get("VK_DEFAULT_CATEGORY_ID", 900))


def load_settings(user_id: int) -> SettingsValues:
    """The saved settings, or the defaults a merchant who never opened the page gets: the one reader of SyncConfig.

    A stored value outside its choices (an old row, a hand edit) reads as the safe choice, never as the most
    destructive one: rounding none, out of stock unavailable, removal leave, a markup outside its bounds 0.
    """
    row = db.session.scalar(db.select(SyncConfig).filter_by(user_id=user_id))
    if row is None:
        return SettingsValues(category_id=default_category_id())
    return SettingsValues(
        markup_percent=_markup(row.markup_percent),
        price_rounding=row.price_rounding if row.price_rounding in ROUNDING_CHOICES else "none",
        out_of_stock=row.out_of_stock if row.out_of_stock in OUT_OF_STOCK_CHOICES else "unavailable",
        removal=row.removal if row.removal in REMOVAL_CHOICES else "leave",
        category_id=row.category_id or default_category_id(),
        description_template=row.description_template or "",
        albums_enabled=row.albums_enabled,
        publish_services=row.publish_services,
        auto_sync=row.auto_sync,
        publish_alcohol=bool(row.publish_alcohol),
        publish_tobacco=bool(row.publish_tobacco),
        vk_owned=mapping.parse_vk_owned(row.vk_owned_fields),
        group_by_name=bool(row.group_by_name),
    )


def _markup(value) -> Decimal:
    markup = Decimal(value or 0)
    return markup if markup.is_finite() and MARKUP_MIN <= markup <= MARKUP_MAX else Decimal(0)


def settings_for(user_id: int) -> p.Settings:
    """The merchant's settings as the plan takes them (an empty description template is the default one)."""
    values = load_settings(user_id)
    return p.Settings(
        markup_percent=values.markup_percent,
        price_rounding=values.price_rounding,
        out_of_stock=values.out_of_stock,
        removal=values.removal,
        category_id=values.category_id,
        description_template=values.description_template or mapping.DEFAULT_DESCRIPTION_TEMPLATE,
        albums_enabled=values.albums_enabled,
        publish_services=values.publish_services,
        publish_alcohol=values.publish_alcohol,
        publish_tobacco=values.publish_tobacco,
        vk_owned=values.vk_owned,
        group_by_name=values.group_by_name,
    )


def auto_sync_on(user_id: int) -> bool:
    """Whether automatic syncs are on for the merchant (on when they never saved settings)."""
    return load_settings(user_id).auto_sync


def template_error(template: str | None) -> str | None:
    """Why a description template cannot be used, or None. Only {name}-style known placeholders."""
    text = template or ""
    if len(text) > TEMPLATE_MAX:
        return f"The template is too long: at most {TEMPLATE_MAX} characters."
    unknown = sorted({m for m in _PLACEHOLDER.findall(text) if m not in PLACEHOLDERS})
    if unknown:
        return "Unknown placeholder: " + ", ".join("{" + u + "}" for u in unknown)
    return None


def validate(values: SettingsValues, category_ids: set[int] | None = None) -> dict[str, str]:
    """Field -> problem; empty when the values can be saved. Checks the same rules the form shows."""
    errors: dict[str, str] = {}
    try:
        markup = Decimal(values.markup_percent)
        if not markup.is_finite() or not MARKUP_MIN <= markup <= MARKUP_MAX:
            errors["markup_percent"] = "The markup must be between -50 and 1000 percent."
    except (InvalidOperation, TypeError, ValueError):
        errors["markup_percent"] = "The markup must be a number, e.g. 10 or 12.5."
    if values.price_rounding not in ROUNDING_CHOICES:
        errors["price_rounding"] = "Choose one of the rounding rules."
    if values.out_of_stock not in OUT_OF_STOCK_CHOICES:
        errors["out_of_stock"] = "Choose what happens to products that ran out."
    if values.removal not in REMOVAL_CHOICES:
        errors["removal"] = "Choose what happens to products that are no longer published."
    if values.category_id is not None and category_ids is not None and values.category_id not in category_ids:
        errors["category_id"] = "Choose a category from the list."
    problem = template_error(values.description_template)
    if problem:
        errors["description_template"] = problem
    if not set(values.vk_owned or ()) <= set(mapping.VK_OWNABLE_FIELDS):
        errors["vk_owned"] = "Choose fields from the list."
    return errors


def save_settings(user_id: int, values: SettingsValues, category_ids: set[int] | None = None) -> SyncConfig:
    """Validate and store; InvalidSettings (nothing stored) when a value is out of bounds."""
    errors = validate(values, category_ids)
    if errors:
        raise InvalidSettings(errors)
    row = db.session.scalar(db.select(SyncConfig).filter_by(user_id=user_id))
    if row is None:
        row = SyncConfig(user_id=user_id)
        db.session.add(row)
    row.markup_percent = Decimal(values.markup_percent).quantize(Decimal("0.01"))
    row.price_rounding = values.price_rounding
    row.out_of_stock = values.out_of_stock
    row.removal = values.removal
    row.category_id = values.category_id
    row.description_template = (values.description_template or "").strip()
    row.albums_enabled = bool(values.albums_enabled)
    row.publish_services = bool(values.publish_services)
    row.auto_sync = bool(values.auto_sync)
    row.group_by_name = bool(values.group_by_name)
    switched = {
        family: bool(getattr(values, f"publish_{family}"))
        for family in mapping.RESTRICTED_FAMILIES
        if bool(getattr(values, f"publish_{family}")) != bool(getattr(row, f"publish_{family}"))
    }
    for family, on in switched.items():
        setattr(row, f"publish_{family}", on)
    if switched:  # publishing goods that must not be sold at a distance is the merchant's decision: on record
        user = db.session.get(User, user_id)
        audit(user, "sync.restricted_goods", target=user, details={"published": switched})
    row.vk_owned_fields = ",".join(name for name in mapping.VK_OWNABLE_FIELDS if name in set(values.vk_owned or ()))
    db.session.commit()
    log.info("sync settings saved", extra={"user_id": user_id})
    return row


# ---------------------------------------------------------------------------------------------- categories


def flatten_categories(tree: list) -> list[Category]:
    """VK's answer as leaf categories: the new tree ({id, name, children}) or the old flat list ({section})."""
    out: list[Category] = []
    for node in tree or ():
        if not isinstance(node, dict) or "id" not in node:
            continue
        children = node.get("children")
        if children:
            section_name = str(node.get("name") or "")
            out.extend(_category(c, section_name) for c in children if isinstance(c, dict) and "id" in c)
            continue
        section = node.get("section")
        out.append(_category(node, str(section.get("name") or "") if isinstance(section, dict) else ""))
    return out


def _category(node: dict, section: str) -> Category:
    return Category(int(node["id"]), str(node.get("name") or node["id"]), section)


def _fetch_categories(user_id: int) -> list | None:
    """VK's tree through the merchant's own token; None when VK could not be asked or did not answer."""
    conn = get_vk_connection(user_id)
    try:
        client = vk_client_for(conn, max_retries=0)
    except NotConnectedError:
        return None
    try:
        return client.get_categories()
    except (VkApiError, OSError) as exc:
        log.warning("VK categories unavailable", extra={"user_id": user_id, "error": type(exc).__name__})
        get_redis().set(CATEGORIES_FAILED_KEY.format(user_id=user_id), "1", ex=CATEGORIES_RETRY_AFTER)
        return None


def categories(user_id: int) -> tuple[list[Category], bool]:
    """VK's market categories (cached for a day, shared by everyone), and whether they came from VK.

    When VK cannot be asked, a built-in list keeps the settings page usable.
    """
    redis = get_redis()
    cached = redis.get(CATEGORIES_KEY)
    if cached:
        try:
            found = flatten_categories(json.loads(cached))
            if found:
                return found, True
        except (ValueError, TypeError):
            log.warning("cached VK categories were unreadable; asking VK again")
    if not redis.get(CATEGORIES_FAILED_KEY.format(user_id=user_id)):
        tree = _fetch_categories(user_id)
        found = flatten_categories(tree) if tree else []
        if found:
            redis.set(CATEGORIES_KEY, json.dumps(tree, ensure_ascii=False), ex=CATEGORIES_TTL)
            return found, True
    return flatten_categories(FALLBACK_CATEGORIES), False
