"""How one Evotor product becomes one VK item: name, description, price, stock, sku (pure functions)."""

from __future__ import annotations

import hashlib
import html
import json
import re
import unicodedata
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation

NAME_MIN, NAME_MAX = 4, 100
DESCRIPTION_MIN, DESCRIPTION_MAX = 10, 4000
ALBUM_TITLE_MAX = 128
SKU_PREFIX = "EVS-"
STOCK_MAX = 999_999
PRICE_MAX = Decimal("99999999")  # above this VK refuses; such a price is a typo in the register
DEFAULT_DESCRIPTION_TEMPLATE = "{name}. Артикул: {article}. Единица: {measure}."
ROUNDING_CHOICES = ("none", "ruble", "ten", "ninety_nine")

# Evotor product types Russian law forbids selling at a distance (alcohol: 171-FZ; tobacco and nicotine: 15-FZ), by
# family: every type whose name starts with one of the prefixes (ALCOHOL_MARKED, ALCOHOL_NOT_MARKED, BEER_MARKED,
# TOBACCO_MARKED, TOBACCO_PRODUCTS_MARKED, ...). An unknown type is a normal product. The one list of them.
RESTRICTED_FAMILIES: dict[str, tuple[str, ...]] = {
    "alcohol": ("ALCOHOL", "BEER"),
    "tobacco": ("TOBACCO", "NICOTINE"),
}

# Fields a merchant may leave to VK after the first publication -> the market.add/edit fields they cover.
VK_OWNABLE_FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "description": ("description",),
    "photos": (),  # the main photo: no new upload once the item has one
    "album": (),  # album membership
    "price": ("price",),
    "stock": ("stock_amount", "deleted"),
}


def restricted_family(product_type: str | None) -> str | None:
    """ "alcohol" or "tobacco" when the Evotor type belongs to a family that must not be sold at a distance."""
    kind = (product_type or "").strip().upper()
    for family, prefixes in RESTRICTED_FAMILIES.items():
        if kind.startswith(prefixes):
            return family
    return None


def parse_vk_owned(text: str | None) -> frozenset[str]:
    """The stored comma-separated list as known field names (unknown ones dropped)."""
    return frozenset(part.strip() for part in (text or "").split(",") if part.strip() in VK_OWNABLE_FIELDS)


_TAG = re.compile(r"</?[A-Za-z!?][^<>]*>")  # a tag starts with a letter: "< 3 лет" is text
_LINK = re.compile(r"(?:https?://|www\.)\S+|\b[\w-]+\.(?:ru|com|рф|net|org|su|info|me|io)(?:/\S*)?\b", re.I)
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def sku_for(store_id: str, product_id: str) -> str:
    """A stable key for adoption: the same Evotor product always gets the same sku (20 chars, <= 50)."""
    # The length prefix keeps the pair unambiguous: ("a:b", "c") and ("a", "b:c") must not share a sku.
    pair = f"{len(store_id)}:{store_id}:{product_id}".encode("utf-8", "surrogatepass")
    digest = hashlib.sha1(pair).hexdigest()[:16].upper()
    return SKU_PREFIX + digest


def is_our_sku(sku: str | None) -> bool:
    return bool(sku) and sku.startswith(SKU_PREFIX) and len(sku) == len(SKU_PREFIX) + 16


def clean_text(value: str | None) -> str:
    """Printable text: no control characters, no zero-width junk, normalised Unicode."""
    if not value:
        return ""
    value = unicodedata.normalize("NFC", str(value)).replace("\r\n", "\n").replace("\r", "\n")
    # Fast path (the plan cleans every name and description of the catalog on each pass): printable
    # means no character of the categories dropped below, so the text comes out as it went in.
    if value.replace("\n", "").replace("\t", "").isprintable():
        return value
    out = []
    for ch in value:
        if ch in "\n\t":
            out.append(ch)
            continue
        category = unicodedata.category(ch)
        if category == "Cc" and ch.isspace():  # vertical tab, form feed, NEL...: a gap, not glue between words
            out.append(" ")
            continue
        if category in ("Cc", "Cs", "Co", "Cn") or (category == "Cf" and ch not in "\u200d\ufe0f"):
            continue
        out.append(ch)
    return "".join(out)


def tidy_line(value: str | None) -> str:
    return " ".join(clean_text(value).split())


def fit_words(text: str, limit: int) -> str:
    """Cut to ``limit`` characters at a word boundary, marking the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    tidy = cut.rstrip(" ,.;:-—")
    # Text made of punctuation would shrink to a bare ellipsis (below VK's minimum): keep the hard cut then.
    return (tidy if len(tidy) >= limit // 2 else text[: limit - 1].rstrip()) + "…"


def item_name(name: str | None, variant: str = "", article: str = "", code: str = "") -> str:
    """The Evotor name, whitespace tidied, with the variant's values, fitted to VK's 4..100 characters."""
    base = tidy_line(name)
    variant = tidy_line(variant)
    # Whole words only: size "S" is not already in "T-shirt Basic".
    if variant and not re.search(rf"(?<!\w){re.escape(variant)}(?!\w)", base, re.I):
        if base:
            # Cut the base, not the values: they are what tells the variants apart.
            suffix = f" ({fit_words(variant, NAME_MAX // 2)})"
            base = fit_words(base, NAME_MAX - len(suffix)) + suffix
        else:
            base = variant
    if not base:
        base = f"Товар {tidy_line(code) or tidy_line(article)}".strip()
    if len(base) < NAME_MIN:
        extra = tidy_line(article) or tidy_line(code)
        base = f"{base} — {extra}" if extra else f"{base} (товар)"
    if len(base) < NAME_MIN:
        base = base.ljust(NAME_MIN, ".")
    return fit_words(base, NAME_MAX)


def strip_markup(text: str | None) -> str:
    """Plain text from Evotor's description: no HTML, no links (VK refuses some, error 1408)."""
    if not text:
        return ""
    text = clean_text(text)
    text = re.sub(r"<\s*(br|/p|/div|/li)\s*/?>", "\n", text, flags=re.I)
    text = html.unescape(_TAG.sub(" ", text))
    text = _TAG.sub(" ", clean_text(text))  # entities may have hidden tags or control characters
    text = _LINK.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r", "\n").split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def render_template(template: str, values: dict[str, str]) -> str:
    """{name}-style placeholders only (no attribute access, no format specs); unknown ones vanish."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), template)


def item_description(description: str | None, template: str, values: dict[str, str]) -> str:
    """The Evotor description, or the template, always at least 10 characters, at most 4000."""
    text = strip_markup(description)
    if len(text) < DESCRIPTION_MIN:
        rendered = strip_markup(render_template(template or DEFAULT_DESCRIPTION_TEMPLATE, values))
        # Drop "Label: ." fragments whose value was empty.
        rendered = re.sub(r"[\w ]+:\s*\.", "", rendered)
        rendered = " ".join(rendered.split())
        text = f"{text}\n\n{rendered}".strip() if text else rendered
    if len(text) < DESCRIPTION_MIN:
        text = (text + " Товар в наличии в магазине.").strip()
    return fit_words(text, DESCRIPTION_MAX)


def to_decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def item_price(price, markup_percent: Decimal = Decimal(0), rounding: str = "none") -> Decimal | None:
    """The VK price in rubles after markup and rounding; None when it cannot be published."""
    number = to_decimal(price)
    if number is None or number <= 0:
        return None
    try:
        number = number * (Decimal(100) + Decimal(markup_percent)) / Decimal(100)
    except ArithmeticError:  # decimal.Overflow for a typo like 1e999999: not a price
        return None
    if number <= 0 or number > PRICE_MAX:  # before rounding: quantize() raises on numbers past 28 digits
        return None
    if rounding == "ruble":
        number = number.quantize(Decimal(1), rounding=ROUND_HALF_UP)
    elif rounding == "ten":
        number = (number / 10).quantize(Decimal(1), rounding=ROUND_HALF_UP) * 10
    elif rounding == "ninety_nine":
        number = number.quantize(Decimal(1), rounding=ROUND_CEILING) - Decimal("0.01")
    number = number.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if number <= 0 or number > PRICE_MAX:
        return None
    return number


def stock_amount(quantity) -> int | None:
    """Evotor's quantity as VK's whole stock_amount (0..999999); None when Evotor does not say."""
    number = to_decimal(quantity)
    if number is None:
        return None
    if number <= 0:
        return 0
    # Weighed goods: 0.75 kg on hand is still something to sell, so any positive quantity is at least 1.
    return int(min(max(number.to_integral_value(rounding="ROUND_FLOOR"), 1), STOCK_MAX))


def album_title(name: str | None) -> str:
    title = tidy_line(name) or "Без названия"
    return fit_words(title, ALBUM_TITLE_MAX)


def content_hash(fields: dict) -> str:
    """A stable hash of what we write to VK for an item (photo excluded): equal hash, nothing to do."""
    payload = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()
