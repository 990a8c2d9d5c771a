"""Seeded generator of realistic Evotor catalogs: nested groups, Russian product names and a few oddities."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

# Evotor documents product names up to 128 characters, so the "very long name" oddity is
# generated at exactly that length by default (the issue asked for 300: pass long_name_length=300
# to get names the real API would reject).
MAX_NAME_LENGTH = 128

ODDITY_KINDS = (
    "short_name",  # a 2-letter name
    "long_name",  # a name of long_name_length characters
    "zero_price",
    "negative_stock",
    "emoji",  # emoji in name and description
    "html_description",  # markup (and a script tag) in the description
    "not_for_sale",  # allow_to_sell false
)

_DAY_MS = 86_400_000


@dataclass(frozen=True)
class _Leaf:
    """A product family that lives in one leaf group."""

    nouns: tuple[str, ...]
    brands: tuple[str, ...]
    sizes: tuple[str, ...]
    price: tuple[float, float]
    measure: str = "шт"
    tax: str = "VAT_20"
    type: str = "NORMAL"


_NO_SIZE = ("",)

# (path of group names from the root) -> product family; shared prefixes become shared parent groups.
_TREE: dict[tuple[str, ...], _Leaf] = {
    ("Напитки", "Соки и нектары"): _Leaf(
        ("Сок яблочный", "Сок апельсиновый", "Нектар персиковый", "Сок томатный", "Морс клюквенный"),
        ("Добрый", "Любимый", "Сады Придонья", "J7", "Rich"),
        ("0,2 л", "1 л", "2 л"),
        (45, 260),
        tax="VAT_10",
    ),
    ("Напитки", "Вода"): _Leaf(
        (
            "Вода минеральная газированная",
            "Вода питьевая негазированная",
            "Вода минеральная лечебно-столовая",
        ),
        ("Ессентуки №17", "Боржоми", "Святой Источник", "Нарзан", "Шишкин лес"),
        ("0,5 л", "1,5 л", "5 л"),
        (35, 190),
    ),
    ("Напитки", "Чай и кофе", "Чай"): _Leaf(
        ("Чай чёрный байховый", "Чай зелёный листовой", "Чай травяной «Иван-чай»", "Чай с бергамотом"),
        ("Майский", "Беседа", "Greenfield", "Curtis", "Принцесса Нури"),
        ("25 пак.", "100 г", "200 г"),
        (69, 540),
    ),
    ("Напитки", "Чай и кофе", "Кофе"): _Leaf(
        ("Кофе молотый", "Кофе в зёрнах", "Кофе растворимый сублимированный"),
        ("Жокей", "Lavazza", "Московская кофейная на паяхъ", "Egoiste", "Чёрная карта"),
        ("95 г", "250 г", "1 кг"),
        (199, 1890),
    ),
    ("Напитки", "Пиво"): _Leaf(
        ("Пиво светлое фильтрованное", "Пиво тёмное", "Сидр яблочный"),
        ("Жигулёвское", "Балтика №7", "Очаково", "Бочкарёв"),
        ("0,45 л", "0,5 л", "1,35 л"),
        (59, 220),
        type="ALCOHOL_NOT_MARKED",
    ),
    ("Молочные продукты", "Молоко и кефир"): _Leaf(
        ("Молоко 3,2%", "Кефир 1%", "Ряженка 4%", "Простокваша 2,5%", "Йогурт питьевой клубничный"),
        ("Домик в деревне", "Простоквашино", "Вкуснотеево", "Весёлый молочник", "Савушкин"),
        ("450 г", "930 мл", "1 л"),
        (49, 149),
        tax="VAT_10",
    ),
    ("Молочные продукты", "Сыры"): _Leaf(
        ("Сыр Российский", "Сыр Гауда", "Сыр Пошехонский", "Брынза", "Сыр Маасдам"),
        ("Сыробогатов", "Ламбер", "Киприно", "Белебеевский"),
        _NO_SIZE,
        (420, 1290),
        measure="кг",
        tax="VAT_10",
    ),
    ("Бакалея", "Крупы"): _Leaf(
        ("Гречка ядрица", "Рис круглозёрный", "Пшено шлифованное", "Овсяные хлопья «Геркулес»", "Булгур"),
        ("Мистраль", "Увелка", "Агро-Альянс", "Националь"),
        ("800 г", "900 г", "5×80 г"),
        (59, 219),
        tax="VAT_10",
    ),
    ("Бакалея", "Макароны"): _Leaf(
        ("Спагетти", "Рожки", "Перья", "Лапша яичная", "Вермишель"),
        ("Макфа", "Шебекинские", "Barilla", "Ролтон"),
        ("400 г", "450 г", "1 кг"),
        (45, 179),
        tax="VAT_10",
    ),
    ("Бакалея", "Специи", "Перец и пряности"): _Leaf(
        ("Перец чёрный молотый", "Паприка сладкая", "Лавровый лист", "Куркума", "Хмели-сунели"),
        ("Kotányi", "Приправка", "Галерея вкусов"),
        ("10 г", "20 г", "50 г"),
        (25, 149),
    ),
    ("Бакалея", "Развесные"): _Leaf(
        ("Орехи грецкие очищенные", "Курага", "Изюм тёмный", "Фундук жареный", "Конфеты «Коровка»"),
        ("", "Фрукторг"),
        _NO_SIZE,
        (290, 1490),
        measure="кг",
    ),
    ("Кондитерские изделия", "Шоколад"): _Leaf(
        ("Шоколад молочный", "Шоколад горький 70%", "Шоколад белый с фундуком", "Батончик шоколадный"),
        ("Алёнка", "Бабаевский", "Россия — щедрая душа", "Коркунов", "Красный Октябрь"),
        ("50 г", "90 г", "100 г", "200 г"),
        (39, 329),
    ),
    ("Кондитерские изделия", "Печенье и пряники"): _Leaf(
        ("Печенье «Юбилейное»", "Пряники тульские", "Сушки с маком", "Печенье овсяное", "Вафли «Артек»"),
        ("Большевик", "Яшкино", "Слодыч", "Брянконфи"),
        ("112 г", "200 г", "300 г"),
        (39, 259),
        tax="VAT_10",
    ),
    ("Бытовая химия",): _Leaf(
        ("Средство для мытья посуды", "Стиральный порошок", "Мыло хозяйственное 72%", "Чистящий гель"),
        ("Fairy", "Миф", "AOS", "Ушастый нянь", "Сарма"),
        ("450 мл", "900 мл", "3 кг"),
        (49, 899),
    ),
    ("Услуги",): _Leaf(
        ("Доставка по городу", "Подарочная упаковка", "Сборка заказа", "Нарезка сыра"),
        ("",),
        _NO_SIZE,
        (50, 500),
        measure="усл.",
        tax="NO_VAT",
        type="SERVICE",
    ),
}

# Leaves of the clothing branch hold modification groups (a group with `attributes`) whose
# products are variants carrying `attributes_choices`.
_MODIFICATION_PARENT = ("Одежда", "Футболки")
_MODIFICATION_MODELS = (
    "Футболка базовая",
    "Футболка оверсайз",
    "Лонгслив хлопковый",
    "Поло с вышивкой",
    "Футболка «Сделано на Урале»",
)
_SIZES = ("S", "M", "L", "XL")
_COLOURS = ("Белый", "Чёрный")

_DESCRIPTION_PARTS = (
    "Натуральный продукт без консервантов.",
    "Срок хранения 12 месяцев.",
    "Хранить в сухом прохладном месте.",
    "Хранить при температуре от +2 до +6 °C.",
    "Произведено в России.",
    "Состав указан на упаковке.",
    "Товар сертифицирован.",
    "Идеально подходит для всей семьи.",
)

_SHORT_NAMES = ("Ёж", "Ус", "Чай", "Сок", "Лё", "Щи", "Юг", "Як")
# Every emoji name holds a non-BMP character (4 bytes in UTF-8: the utf8mb4 case).
_EMOJI_NAMES = ("Торт «Наполеон» 🎂", "Клубника 🍓 садовая", "Кофе ☕ с собой 🥐", "Набор «Праздник» 🎉🎁")
_HTML_DESCRIPTIONS = (
    '<p>Акция! <b>Скидка 10%</b> до конца месяца.</p><script>alert("xss")</script>',
    "<ul><li>Вкусно &amp; полезно</li><li>Без ГМО</li></ul><br/>Цена &lt;за 1 шт&gt;",
)


_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def stable_uuid(rng: random.Random) -> str:
    """A random-looking but seed-determined UUID4 string (lower case, as Evotor sends product ids).

    Same value as ``str(uuid.UUID(int=bits, version=4))``, formatted by hand because this runs
    for every generated product (uuid.UUID is the hot spot of a 50,000-product catalog).
    """
    h = f"{(rng.getrandbits(128) & _UUID4_CLEAR) | _UUID4_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def evotor_store_id(rng: random.Random, created: str = "20170228") -> str:
    """A store id in Evotor's own shape, e.g. ``20170228-F4F1-401B-80FA-9ECCA8451FFB`` (not RFC 4122)."""
    hexes = f"{rng.getrandbits(80):020X}"
    return f"{created}-{hexes[0:4]}-{hexes[4:8]}-{hexes[8:12]}-{hexes[12:20]}{rng.getrandbits(16):04X}"


def ean13(rng: random.Random) -> str:
    """A valid EAN-13 with a Russian GS1 prefix (460-469) and a correct check digit."""
    body = f"46{int(rng.random() * 10**10):010d}"
    digits = [int(d) for d in body]
    total = sum(digits[0::2]) + 3 * sum(digits[1::2])
    return body + str((10 - total % 10) % 10)


def _pick(rng: random.Random, options: tuple[str, ...]) -> str:
    return options[int(rng.random() * len(options))]


def _rubles(value: float) -> float:
    """Round to kopecks, preferring shop-like endings (…,90 / …,99 / …,00)."""
    whole = int(value)
    return round(whole + (0.9, 0.99, 0.0, 0.5)[whole % 4], 2)


def generate_groups(seed: int = 0, n_modification_groups: int = 1) -> list[dict]:
    """The group tree: parents before children, and ``n_modification_groups`` groups with ``attributes``.

    Each group is ``{id, name, parent_id, barcodes, attributes?}``; a modification group's
    ``attributes`` is ``[{id, name, choices: [{id, name}]}]`` (the SDK's Attribute/AttributeChoice).
    """
    rng = random.Random(f"groups:{seed}")
    groups: list[dict] = []
    by_path: dict[tuple[str, ...], str] = {}

    def ensure(path: tuple[str, ...]) -> str:
        for depth in range(1, len(path) + 1):
            prefix = path[:depth]
            if prefix not in by_path:
                by_path[prefix] = stable_uuid(rng)
                groups.append(
                    {
                        "id": by_path[prefix],
                        "name": prefix[-1],
                        "parent_id": by_path.get(prefix[:-1]),
                        "barcodes": [],
                    }
                )
        return by_path[path]

    for path in _TREE:
        ensure(path)
    if n_modification_groups > 0:
        clothing = ensure(_MODIFICATION_PARENT)
        for index in range(n_modification_groups):
            model = _MODIFICATION_MODELS[index % len(_MODIFICATION_MODELS)]
            if index >= len(_MODIFICATION_MODELS):
                model = f"{model} {index // len(_MODIFICATION_MODELS) + 1}"
            attributes = [
                {
                    "id": stable_uuid(rng),
                    "name": "Размер",
                    "choices": [{"id": stable_uuid(rng), "name": size} for size in _SIZES],
                },
                {
                    "id": stable_uuid(rng),
                    "name": "Цвет",
                    "choices": [{"id": stable_uuid(rng), "name": colour} for colour in _COLOURS],
                },
            ]
            groups.append(
                {
                    "id": stable_uuid(rng),
                    "name": model,
                    "parent_id": clothing,
                    "barcodes": [],
                    "attributes": attributes,
                }
            )
    return groups


def modification_group_count(n_products: int) -> int:
    """How many modification groups a catalog of ``n_products`` gets (8 variants each, <= a quarter)."""
    if n_products < 20:
        return 0
    return max(1, min(n_products // 250, n_products // 32))


def _variant_choices(group: dict) -> list[tuple[str, dict]]:
    """Every (variant name suffix, attributes_choices) combination of a modification group."""
    size_attr, colour_attr = group["attributes"]
    combos = []
    for size in size_attr["choices"]:
        for colour in colour_attr["choices"]:
            combos.append(
                (
                    f"{size['name']}, {colour['name'].lower()}",
                    {size_attr["id"]: size["id"], colour_attr["id"]: colour["id"]},
                )
            )
    return combos


def iter_products(
    n_products: int,
    seed: int = 0,
    groups: list[dict] | None = None,
    with_images_ratio: float = 0.2,
    oddities: bool = True,
    long_name_length: int = MAX_NAME_LENGTH,
) -> Iterator[dict]:
    """Yield ``n_products`` product dicts, lazily (memory stays flat for 50,000 and more).

    Each dict has the v2 product fields the catalog owns (id, name, code, barcodes, price,
    cost_price, quantity, measure_name, tax, allow_to_sell, description when there is one,
    article_number for most, parent_id, type, attributes_choices on variants) plus three private keys the
    emulator consumes: ``_image_count`` (0-3), ``_created_ago_ms`` and ``_updated_ago_ms``
    (how long before "now" the product was created/last changed). ``groups`` must come from
    ``generate_groups`` (the default builds it from the same seed). Same arguments, same output.
    """
    if groups is None:
        groups = generate_groups(seed, modification_group_count(n_products))
    rng = random.Random(f"products:{seed}")
    leaf_ids = _leaf_group_ids(groups)
    leaves = list(_TREE.values())
    modification_groups = [g for g in groups if g.get("attributes")]
    variant_slots: list[tuple[str, str, tuple[str, dict]]] = []
    for group in modification_groups:
        for combo in _variant_choices(group):
            variant_slots.append((group["id"], group["name"], combo))
    variant_slots = variant_slots[: n_products // 4]
    n_plain = n_products - len(variant_slots)
    oddity_at = _place_oddities(rng, n_plain, oddities)

    for index in range(n_products):
        if index < n_plain:
            leaf_no = int(rng.random() * len(leaves))
            product = _plain_product(rng, index, leaves[leaf_no], leaf_ids[leaf_no])
            kind = oddity_at.get(index)
            if kind:
                _apply_oddity(rng, product, kind, long_name_length)
        else:
            parent_id, model, (suffix, choices) = variant_slots[index - n_plain]
            product = _variant_product(rng, index, parent_id, model, suffix, choices)
        product["_image_count"] = 1 + int(rng.random() * 3) if rng.random() < with_images_ratio else 0
        created_ago = int(rng.uniform(30 * _DAY_MS, 720 * _DAY_MS))
        product["_created_ago_ms"] = created_ago
        product["_updated_ago_ms"] = int(rng.uniform(_DAY_MS, created_ago))
        yield product


def _leaf_group_ids(groups: list[dict]) -> list[str]:
    """Ids of the groups holding each _TREE leaf, in _TREE order (matched by name path)."""
    by_id = {g["id"]: g for g in groups}

    def path_of(group: dict) -> tuple[str, ...]:
        names = []
        while group is not None:
            names.append(group["name"])
            group = by_id.get(group["parent_id"])
        return tuple(reversed(names))

    by_path = {path_of(g): g["id"] for g in groups}
    return [by_path[path] for path in _TREE]


def _place_oddities(rng: random.Random, n_plain: int, enabled: bool) -> dict[int, str]:
    """Spread the oddities over the catalog: about one of each kind per 1,000 products, at least one."""
    if not enabled or n_plain == 0:
        return {}
    per_kind = max(1, n_plain // 1000)
    total = min(n_plain, per_kind * len(ODDITY_KINDS))
    positions = rng.sample(range(n_plain), total)
    return {position: ODDITY_KINDS[i % len(ODDITY_KINDS)] for i, position in enumerate(positions)}


def _plain_product(rng: random.Random, index: int, leaf: _Leaf, parent_id: str) -> dict:
    # _pick instead of rng.choice/randrange/sample: several times faster, which 50,000 products feel.
    brand = _pick(rng, leaf.brands)
    size = _pick(rng, leaf.sizes)
    name = " ".join(part for part in (_pick(rng, leaf.nouns), brand, size) if part)
    price = _rubles(rng.uniform(*leaf.price))
    if leaf.measure == "кг":
        quantity = round(rng.uniform(0.2, 40.0), 3)
    elif leaf.type == "SERVICE":
        quantity = 0.0
    else:
        quantity = float(int(rng.random() * 251))
    roll = rng.random()
    barcodes = [] if roll < 0.1 or leaf.type == "SERVICE" else [ean13(rng)]
    if roll > 0.93:
        barcodes.append(ean13(rng))
    product = {
        "id": stable_uuid(rng),
        "name": name,
        "code": str(index + 1),
        "barcodes": barcodes,
        "price": price,
        "cost_price": round(price * rng.uniform(0.55, 0.8), 2),
        "quantity": quantity,
        "measure_name": leaf.measure,
        "tax": "VAT_20" if leaf.tax == "VAT_20" and rng.random() < 0.9 else leaf.tax,
        "allow_to_sell": True,
        "parent_id": parent_id,
        "type": leaf.type,
    }
    if rng.random() < 0.7:  # about 30% of real catalogs have no description at all
        first = int(rng.random() * len(_DESCRIPTION_PARTS))
        product["description"] = " ".join(_DESCRIPTION_PARTS[first : first + 1 + int(rng.random() * 3)])
    if rng.random() < 0.8:
        product["article_number"] = f"АРТ-{int(rng.random() * 10**6):06d}"
    return product


def _variant_product(rng: random.Random, index: int, parent_id: str, model: str, suffix: str, choices: dict) -> dict:
    price = _rubles(rng.uniform(590, 1990))
    return {
        "id": stable_uuid(rng),
        "name": f"{model} {suffix}",
        "code": str(index + 1),
        "barcodes": [ean13(rng)],
        "price": price,
        "cost_price": round(price * 0.5, 2),
        "quantity": float(rng.randint(0, 30)),
        "measure_name": "шт",
        "tax": "VAT_20",
        "allow_to_sell": True,
        "description": "Хлопок 100%. Машинная стирка при 30 °C.",
        "article_number": f"TS-{rng.randrange(10**5):05d}",
        "parent_id": parent_id,
        "type": "NORMAL",
        "attributes_choices": dict(choices),
    }


def _apply_oddity(rng: random.Random, product: dict, kind: str, long_name_length: int) -> None:
    if kind == "short_name":
        product["name"] = rng.choice([n for n in _SHORT_NAMES if len(n) == 2])
    elif kind == "long_name":
        words = "Набор подарочный праздничный «Большая семейная корзина» с чаем, кофе, конфетами и печеньем. "
        name = (words * (long_name_length // len(words) + 1))[:long_name_length]
        # exactly long_name_length characters, never ending in a blank that a client might strip
        product["name"] = name if not name.endswith(" ") else name[:-1] + "…"
    elif kind == "zero_price":
        product["price"] = 0.0
        product["cost_price"] = 0.0
    elif kind == "negative_stock":
        product["quantity"] = -round(rng.uniform(0.001, 5.0), 3) if product["measure_name"] == "кг" else -3.0
    elif kind == "emoji":
        product["name"] = rng.choice(_EMOJI_NAMES)
        product["description"] = "Свежее 🍰 и вкусное 😋 — заказывайте 👍"
    elif kind == "html_description":
        product["description"] = rng.choice(_HTML_DESCRIPTIONS)
    elif kind == "not_for_sale":
        product["allow_to_sell"] = False
