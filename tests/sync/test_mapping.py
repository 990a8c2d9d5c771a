"""Table-driven tests of the mapping rules: how one Evotor product's fields become one VK item's fields."""

from __future__ import annotations

from decimal import Decimal

import pytest

from evosync.services.sync import mapping

# ------------------------------------------------------------------------------------------- clean text

CLEAN_TEXT = [
    pytest.param(None, "", id="none-is-empty"),
    pytest.param("", "", id="empty"),
    pytest.param("Чай\x00 зелёный\x07", "Чай зелёный", id="nul-and-bell-dropped"),
    pytest.param("a\u200bb\u202ec\ufeff", "abc", id="zero-width-and-bidi-dropped"),
    pytest.param("\ud800x", "x", id="lone-surrogate-dropped"),
    pytest.param("\ue000x", "x", id="private-use-dropped"),
    pytest.param("👨\u200d👩\u200d👧", "👨\u200d👩\u200d👧", id="zwj-emoji-sequence-kept"),
    pytest.param("❤\ufe0f", "❤\ufe0f", id="variation-selector-kept"),
    pytest.param("e\u0301", "\u00e9", id="nfc-normalised"),
    pytest.param("a\r\nb", "a\nb", id="crlf-is-one-line-break"),
    pytest.param("a\rb", "a\nb", id="lone-cr-is-a-line-break"),
    pytest.param("a\x0bb\x0cc\x85d", "a b c d", id="control-whitespace-is-a-space-not-glue"),
    pytest.param("a\tb\nc", "a\tb\nc", id="tab-and-newline-kept"),
]


@pytest.mark.parametrize(("raw", "expected"), CLEAN_TEXT)
def test_clean_text(raw, expected):
    """Control, zero-width and unassigned characters go; emoji, line breaks and separators between words stay."""
    assert mapping.clean_text(raw) == expected


# ------------------------------------------------------------------------------------------- fit to a limit

FIT_WORDS = [
    pytest.param("short", 10, "short", id="fits-unchanged"),
    pytest.param("exactly10!", 10, "exactly10!", id="exact-length-unchanged"),
    pytest.param("alpha beta gamma delta", 15, "alpha beta…", id="cut-at-word-with-ellipsis"),
    pytest.param("alpha, beta, gamma", 14, "alpha, beta…", id="trailing-punctuation-before-ellipsis-dropped"),
    pytest.param("a " + "b" * 30, 10, "a bbbbbbb…", id="word-boundary-too-early-hard-cut"),
    pytest.param("-" * 30, 10, "---------…", id="all-punctuation-keeps-the-hard-cut"),
    pytest.param("a " + "-" * 30, 10, "a -------…", id="mostly-punctuation-keeps-the-hard-cut"),
]


@pytest.mark.parametrize(("text", "limit", "expected"), FIT_WORDS)
def test_fit_words(text, limit, expected):
    """Text over the limit is cut at a word when one is near, marked with an ellipsis, never shorter than half."""
    fitted = mapping.fit_words(text, limit)
    assert fitted == expected
    assert len(fitted) <= limit


# ------------------------------------------------------------------------------------------- name

LONG_300 = " ".join(["Набор"] + ["подарочный"] * 30)[:300]
NAME = [
    pytest.param(dict(name="  Чай   зелёный\t\n"), "Чай зелёный", id="whitespace-tidied"),
    pytest.param(dict(name="Чай\u00a0\u00a0зелёный"), "Чай зелёный", id="nbsp-collapsed"),
    pytest.param(dict(name="Чай"), "Чай — АРТ-1", id="three-letters-padded-with-article"),
    pytest.param(dict(name="Ок", article=""), "Ок — 42", id="two-letters-padded-with-code"),
    pytest.param(dict(name="Ок", article="", code=""), "Ок (товар)", id="two-letters-padded-without-article"),
    pytest.param(dict(name="Окей"), "Окей", id="four-letters-kept"),
    pytest.param(dict(name=""), "Товар 42", id="empty-named-by-code"),
    pytest.param(dict(name=None, code=""), "Товар АРТ-1", id="none-named-by-article"),
    pytest.param(dict(name="\x00\x01", article="", code=""), "Товар", id="only-control-chars"),
    pytest.param(dict(name="Кофе ☕ «Арабика»"), "Кофе ☕ «Арабика»", id="emoji-and-quotes-kept"),
    pytest.param(dict(name="Кофе\x07\x1b[31m"), "Кофе[31m", id="control-chars-dropped"),
    pytest.param(dict(name="Молоко\rпастеризованное"), "Молоко пастеризованное", id="cr-between-words-is-a-space"),
    pytest.param(dict(name="Футболка", variant="M, красный"), "Футболка (M, красный)", id="variant-appended"),
    pytest.param(
        dict(name="Футболка M, красный", variant="M, Красный"),
        "Футболка M, красный",
        id="variant-already-in-name-not-twice",
    ),
    pytest.param(
        dict(name="T-shirt Basic", variant="S"), "T-shirt Basic (S)", id="variant-letter-inside-a-word-still-appended"
    ),
    pytest.param(dict(name="", variant="XL"), "XL — АРТ-1", id="variant-only-name-padded"),
]


@pytest.mark.parametrize(("kwargs", "expected"), NAME)
def test_item_name(kwargs, expected):
    """The VK name is the tidy Evotor name with the variant's values, padded to VK's minimum of 4."""
    kwargs = {"article": "АРТ-1", "code": "42", **kwargs}
    assert mapping.item_name(**kwargs) == expected


LONG_NAMES = [
    pytest.param(LONG_300, "", id="300-chars"),
    pytest.param("Ж" * 300, "", id="300-chars-one-word"),
    pytest.param("-" * 300, "", id="300-dashes"),
    pytest.param("a " + "." * 300, "", id="letter-then-dots"),
    pytest.param("🍎" * 300, "", id="300-emoji"),
    pytest.param(LONG_300, "XL, тёмно-синий", id="300-chars-with-variant"),
]


@pytest.mark.parametrize(("name", "variant"), LONG_NAMES)
def test_item_name_long(name, variant):
    """A name over 100 characters is cut to 4..100, at a word where there is one, keeping the variant's values."""
    fitted = mapping.item_name(name, variant)
    assert mapping.NAME_MIN <= len(fitted) <= mapping.NAME_MAX
    if " " in name.strip(" -."):
        assert fitted.split(" (")[0].rstrip("…") in name  # whole words of the original
        assert not fitted.split(" (")[0].rstrip("…").endswith("подарочн")
    if variant:
        assert fitted.endswith(f"({variant})")


def test_item_name_variants_of_a_long_name_stay_distinct():
    """Two variants of a product with a long name get different names: the values are not the part cut off."""
    base = "Футболка " + "очень " * 30
    assert mapping.item_name(base, "S, белый") != mapping.item_name(base, "M, белый")


# ------------------------------------------------------------------------------------------- description

VALUES = {"name": "Чай зелёный", "article": "АРТ-1", "code": "42", "measure": "шт", "price": "100.00"}
DESCRIPTION = [
    pytest.param("Вкусный чай из Китая", None, "Вкусный чай из Китая", id="evotor-description-kept"),
    pytest.param(None, None, "Чай зелёный. Артикул: АРТ-1. Единица: шт.", id="none-uses-template"),
    pytest.param("", None, "Чай зелёный. Артикул: АРТ-1. Единица: шт.", id="empty-uses-template"),
    pytest.param(
        "Вкусно", None, "Вкусно\n\nЧай зелёный. Артикул: АРТ-1. Единица: шт.", id="short-completed-by-template"
    ),
    pytest.param("<p>Чай <b>зелёный</b></p><br>листовой", None, "Чай зелёный\n\nлистовой", id="html-stripped"),
    pytest.param(
        "&lt;script&gt;alert(1)&lt;/script&gt; Чай хороший", None, "alert(1) Чай хороший", id="escaped-tags-stripped"
    ),
    pytest.param(
        "Заходите на https://shop.example/tea?x=1 и www.tea.ru сегодня",
        None,
        "Заходите на и сегодня",
        id="links-stripped",
    ),
    pytest.param("Пишите в vk.com/tea или tea-shop.рф, ждём", None, "Пишите в или , ждём", id="bare-domains-stripped"),
    pytest.param(
        "Для детей < 3 лет, вес > 5 кг", None, "Для детей < 3 лет, вес > 5 кг", id="lone-angle-brackets-are-not-tags"
    ),
    pytest.param(
        "Чай&#12;чёрный&#8203; крупнолистовой",
        None,
        "Чай чёрный крупнолистовой",
        id="control-chars-from-entities-dropped",
    ),
    pytest.param(
        "Строка 1\r\nСтрока 2\n\n\n\nСтрока 3", None, "Строка 1\nСтрока 2\n\nСтрока 3", id="line-breaks-tidied"
    ),
    pytest.param(None, "{name}, {price} ₽ за {measure}", "Чай зелёный, 100.00 ₽ за шт", id="own-template"),
    pytest.param(None, "{name} {unknown}{__class__}", "Чай зелёный", id="unknown-placeholders-vanish"),
    pytest.param(None, "", "Чай зелёный. Артикул: АРТ-1. Единица: шт.", id="empty-template-is-default"),
]


@pytest.mark.parametrize(("description", "template", "expected"), DESCRIPTION)
def test_item_description(description, template, expected):
    """Evotor's description, plain text without HTML or links, or the template when it is too short."""
    text = mapping.item_description(
        description, mapping.DEFAULT_DESCRIPTION_TEMPLATE if template is None else template, VALUES
    )
    assert text == expected
    assert len(text) >= mapping.DESCRIPTION_MIN


SHORT_DESCRIPTIONS = [
    pytest.param(None, {"name": "Окей"}, id="empty-values-label-fragments-dropped"),
    pytest.param("<br><br>", {"name": "Окей"}, id="only-markup"),
    pytest.param(None, {}, id="no-values-at-all"),
    pytest.param("." * 5000, {"name": "Окей"}, id="5000-dots"),
    pytest.param("https://a.ru " * 10, {"name": "Окей"}, id="only-links"),
]


@pytest.mark.parametrize(("description", "values"), SHORT_DESCRIPTIONS)
def test_item_description_never_below_minimum(description, values):
    """However little there is to say, the description has VK's minimum of 10 characters and at most 4000."""
    text = mapping.item_description(description, mapping.DEFAULT_DESCRIPTION_TEMPLATE, values)
    assert mapping.DESCRIPTION_MIN <= len(text.strip()) <= mapping.DESCRIPTION_MAX
    assert "Артикул: ." not in text and "Единица: ." not in text


def test_item_description_long_cut():
    """A description over 4000 characters is cut at a word with an ellipsis."""
    text = mapping.item_description("слово " * 1000, "", VALUES)
    assert len(text) <= mapping.DESCRIPTION_MAX
    assert text.endswith("слово…")


# ------------------------------------------------------------------------------------------- price

PRICE = [
    pytest.param(100, 0, "none", Decimal("100.00"), id="plain"),
    pytest.param("99.9", 0, "none", Decimal("99.90"), id="string-two-decimals"),
    pytest.param(10.005, 0, "none", Decimal("10.01"), id="half-kopeck-up"),
    pytest.param(100, 10, "none", Decimal("110.00"), id="markup-10"),
    pytest.param(100, Decimal("12.5"), "none", Decimal("112.50"), id="markup-fractional"),
    pytest.param(100, -10, "none", Decimal("90.00"), id="markup-negative-discount"),
    pytest.param("123.45", 0, "ruble", Decimal("123.00"), id="ruble-down"),
    pytest.param("123.50", 0, "ruble", Decimal("124.00"), id="ruble-half-up"),
    pytest.param(124, 0, "ten", Decimal("120.00"), id="ten-down"),
    pytest.param(125, 0, "ten", Decimal("130.00"), id="ten-half-up"),
    pytest.param("123.01", 0, "ninety_nine", Decimal("123.99"), id="ninety-nine-up"),
    pytest.param("123.99", 0, "ninety_nine", Decimal("123.99"), id="ninety-nine-kept"),
    pytest.param(100, 10, "ruble", Decimal("110.00"), id="markup-then-rounding"),
    pytest.param("0.004", 0, "none", None, id="rounds-to-zero"),
    pytest.param(0, 0, "none", None, id="zero"),
    pytest.param(-5, 0, "none", None, id="negative"),
    pytest.param(None, 0, "none", None, id="none"),
    pytest.param("", 0, "none", None, id="empty-string"),
    pytest.param("abc", 0, "none", None, id="not-a-number"),
    pytest.param(float("nan"), 0, "none", None, id="nan"),
    pytest.param(float("inf"), 0, "none", None, id="inf"),
    pytest.param("99999999", 0, "none", Decimal("99999999.00"), id="maximum"),
    pytest.param("100000000", 0, "none", None, id="over-maximum"),
    pytest.param(1e30, 0, "none", None, id="enormous"),
    pytest.param("1e999999", 0, "ten", None, id="astronomical-with-rounding"),
    pytest.param(100, Decimal("1e30"), "none", None, id="enormous-markup"),
    pytest.param(100, -100, "none", None, id="markup-minus-100"),
]


@pytest.mark.parametrize(("price", "markup", "rounding", "expected"), PRICE)
def test_item_price(price, markup, rounding, expected):
    """Price after markup and rounding, two decimals; None (not published) for zero, negative or absurd ones."""
    assert mapping.item_price(price, Decimal(markup), rounding) == expected


# ------------------------------------------------------------------------------------------- stock

STOCK = [
    pytest.param(5, 5, id="whole"),
    pytest.param("2.999", 2, id="fraction-floors"),
    pytest.param(0, 0, id="zero"),
    pytest.param(-3, 0, id="negative-is-zero"),
    pytest.param("-0.5", 0, id="negative-fraction-is-zero"),
    pytest.param(None, None, id="unknown"),
    pytest.param("", None, id="empty-is-unknown"),
    pytest.param(float("nan"), None, id="nan-is-unknown"),
    pytest.param(10**9, mapping.STOCK_MAX, id="capped"),
    pytest.param("1e400", mapping.STOCK_MAX, id="astronomical-capped"),
    pytest.param(999_999.5, 999_999, id="max"),
]


@pytest.mark.parametrize(("quantity", "expected"), STOCK)
def test_stock_amount(quantity, expected):
    """Evotor's quantity becomes VK's whole stock_amount in 0..999999, or None when Evotor does not say."""
    got = mapping.stock_amount(quantity)
    assert got == expected
    assert got is None or type(got) is int


# ------------------------------------------------------------------------------------------- sku, album, hash


def test_sku_is_stable_short_and_recognised():
    """The same product always gets the same sku, <= 50 chars, recognised as ours."""
    sku = mapping.sku_for("20170228-F4F1-401B-80FA-9ECCA8451FFB", "P1")
    assert sku == mapping.sku_for("20170228-F4F1-401B-80FA-9ECCA8451FFB", "P1")
    assert len(sku) <= 50
    assert mapping.is_our_sku(sku)


SKU_PAIRS = [
    pytest.param(("S1", "P1"), ("S1", "P2"), id="other-product"),
    pytest.param(("S1", "P1"), ("S2", "P1"), id="other-store"),
    pytest.param(("a:b", "c"), ("a", "b:c"), id="separator-in-ids"),
    pytest.param(("", "ab"), ("a", "b"), id="empty-store-id"),
    pytest.param(("S1", "\ud800"), ("S1", "\ud801"), id="lone-surrogates-from-json"),
]


@pytest.mark.parametrize(("first", "second"), SKU_PAIRS)
def test_sku_distinct(first, second):
    """Different (store, product) pairs never share a sku, whatever characters their ids hold."""
    assert mapping.sku_for(*first) != mapping.sku_for(*second)


@pytest.mark.parametrize(
    "sku",
    [None, "", "EVS-", "ART-123", "EVS-0123456789ABCDEF0", "evs-0123456789ABCDEF"],
    ids=["none", "empty", "prefix-only", "merchant-sku", "too-long", "lower-prefix"],
)
def test_foreign_sku_is_not_ours(sku):
    """Skus the merchant typed by hand are never taken for ours (so their items are never touched)."""
    assert not mapping.is_our_sku(sku)


ALBUM_TITLES = [
    pytest.param("  Напитки\tгорячие ", "Напитки горячие", id="tidied"),
    pytest.param("", "Без названия", id="empty"),
    pytest.param(None, "Без названия", id="none"),
    pytest.param("\x00\x01", "Без названия", id="only-control-chars"),
]


@pytest.mark.parametrize(("name", "expected"), ALBUM_TITLES)
def test_album_title(name, expected):
    """The album is named after the Evotor group, tidied, never empty."""
    assert mapping.album_title(name) == expected


@pytest.mark.parametrize("name", ["Группа " * 40, "Г" * 500, "-" * 500], ids=["words", "one-word", "dashes"])
def test_album_title_long(name):
    """An album title is at most 128 characters and never reduced to nothing."""
    title = mapping.album_title(name)
    assert 1 < len(title) <= mapping.ALBUM_TITLE_MAX


def test_content_hash_stable_and_order_free():
    """The content hash depends on the fields' values, not their order."""
    assert mapping.content_hash({"a": 1, "b": "x"}) == mapping.content_hash({"b": "x", "a": 1})
    assert mapping.content_hash({"a": 1}) != mapping.content_hash({"a": 2})


@pytest.mark.parametrize(("quantity", "stock"), [("0.75", 1), ("0.001", 1), ("2.5", 2), ("0", 0), ("-1", 0)])
def test_weighed_goods_on_hand_are_never_out_of_stock(quantity, stock):
    """A fractional quantity above zero (0.75 kg) is still sellable: stock at least 1."""
    assert mapping.stock_amount(quantity) == stock


def test_description_fallback_without_article_or_unit_reads_well():
    """With no description, article or unit, the fallback is a sentence, not 'Name. — Name'."""
    text = mapping.item_description("", "", {"name": "Чай", "article": "", "measure": ""})
    assert len(text) >= 10 and "—" not in text and text.startswith("Чай")


def test_loader_never_turns_an_unknown_removal_setting_into_delete(app):
    """A removal value the code does not know is treated as 'leave', the least destructive choice."""
    from evosync.extensions import db
    from evosync.models import SyncConfig
    from evosync.services.sync.settings import settings_for
    from tests.factories import make_user

    user = make_user()
    db.session.add(SyncConfig(user_id=user.id, removal="delte"))
    db.session.commit()
    assert settings_for(user.id).removal == "leave"
