"""The catalog generator: reproducible, realistic, odd where it should be, fast and streaming."""

from __future__ import annotations

import inspect
import random
import re
import subprocess
import sys
import textwrap
import time
from collections import Counter

from evosync.sandbox import datagen


def catalog(n: int, seed: int = 1, **kwargs) -> list[dict]:
    return list(datagen.iter_products(n, seed=seed, **kwargs))


def test_same_seed_same_catalog_and_another_seed_another():
    """Two runs with one seed are identical (ids included); a different seed changes the catalog."""
    assert catalog(300, seed=5) == catalog(300, seed=5)
    assert datagen.generate_groups(5, 2) == datagen.generate_groups(5, 2)
    other = catalog(300, seed=6)
    assert [p["id"] for p in other] != [p["id"] for p in catalog(300, seed=5)]
    assert [p["name"] for p in other] != [p["name"] for p in catalog(300, seed=5)]


def test_every_oddity_is_present_in_a_catalog_of_a_thousand():
    """2-letter names, 128-char names, zero price, negative stock, emoji, HTML, not-for-sale all occur."""
    products = catalog(1000)
    names = [p["name"] for p in products]
    assert any(len(n) == 2 for n in names)
    assert any(len(n) == datagen.MAX_NAME_LENGTH for n in names)
    assert max(len(n) for n in names) <= datagen.MAX_NAME_LENGTH  # Evotor's documented limit
    assert any(p["price"] == 0 for p in products)
    assert any(p["quantity"] < 0 for p in products)
    assert any(any(ord(ch) > 0xFFFF for ch in n) for n in names)  # emoji beyond the BMP
    assert any(re.search(r"<(p|ul|script)\b", p.get("description", "")) for p in products)
    assert any(p["allow_to_sell"] is False for p in products)


def test_longer_names_on_request_and_no_oddities_when_switched_off():
    """long_name_length=300 yields 300-char names (beyond the API limit); oddities=False yields none."""
    assert max(len(p["name"]) for p in catalog(1000, long_name_length=300)) == 300
    plain = catalog(1000, oddities=False)
    assert all(p["price"] > 0 and p["quantity"] >= 0 and p["allow_to_sell"] for p in plain)
    assert all(3 <= len(p["name"]) < 100 for p in plain)


def test_products_look_like_a_russian_shop():
    """Cyrillic names, 2-decimal prices, 3-decimal quantities, known taxes/types, valid EAN-13 barcodes."""
    products = catalog(2000)
    assert sum(any("а" <= ch <= "я" for ch in p["name"].lower()) for p in products) > 1900
    assert all(round(p["price"], 2) == p["price"] and round(p["quantity"], 3) == p["quantity"] for p in products)
    assert {p["measure_name"] for p in products} >= {"шт", "кг"}
    assert any(p["quantity"] != int(p["quantity"]) for p in products if p["measure_name"] == "кг")
    assert {p["tax"] for p in products} <= {"NO_VAT", "VAT_0", "VAT_10", "VAT_18", "VAT_20"}
    assert {p["type"] for p in products} >= {"NORMAL", "SERVICE", "ALCOHOL_NOT_MARKED"}
    barcodes = [b for p in products for b in p["barcodes"]]
    assert barcodes and all(len(b) == 13 and b.startswith("46") for b in barcodes)
    for code in barcodes[:200]:
        total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(code[:12]))
        assert (10 - total % 10) % 10 == int(code[12])
    assert any(not p["barcodes"] for p in products)
    assert 0.15 < sum("description" not in p for p in products) / len(products) < 0.45
    assert len({p["id"] for p in products}) == len(products)
    assert [p["code"] for p in products[:3]] == ["1", "2", "3"]


def test_images_follow_the_ratio():
    """About with_images_ratio of the products get 1-3 images; ratio 0 gives none."""
    counts = [p["_image_count"] for p in catalog(2000, with_images_ratio=0.25)]
    assert 0.2 < sum(c > 0 for c in counts) / len(counts) < 0.3
    assert set(counts) == {0, 1, 2, 3}
    assert all(p["_image_count"] == 0 for p in catalog(200, with_images_ratio=0))


def test_groups_nest_and_modification_groups_hold_their_variants():
    """Parents come before children, nesting is 3 deep, and variants' attributes_choices match their group."""
    groups = datagen.generate_groups(1, datagen.modification_group_count(1000))
    by_id = {g["id"]: g for g in groups}
    seen: set[str] = set()
    for group in groups:
        assert group["parent_id"] is None or group["parent_id"] in seen
        seen.add(group["id"])

    def depth(group):
        return 1 if group["parent_id"] is None else 1 + depth(by_id[group["parent_id"]])

    assert max(depth(g) for g in groups) >= 3
    modification = [g for g in groups if g.get("attributes")]
    assert len(modification) == datagen.modification_group_count(1000) == 4
    products = catalog(1000, groups=groups)
    assert all(p["parent_id"] in by_id for p in products)
    variants = [p for p in products if "attributes_choices" in p]
    assert len(variants) == 32
    for variant in variants:
        group = by_id[variant["parent_id"]]
        choices = {a["id"]: {c["id"] for c in a["choices"]} for a in group["attributes"]}
        assert set(variant["attributes_choices"]) == set(choices)
        assert all(v in choices[k] for k, v in variant["attributes_choices"].items())


def test_small_catalogs_have_no_variants_and_zero_is_empty():
    """Under 20 products there is no modification group; n=0 yields nothing."""
    assert datagen.modification_group_count(19) == 0
    assert not any("attributes_choices" in p for p in catalog(19))
    assert catalog(0) == []
    assert len(catalog(7)) == 7


def test_fifty_thousand_products_stream_fast_with_flat_memory():
    """iter_products is a generator; 50,000 products take under 5 s and memory does not grow with n."""
    stream = datagen.iter_products(50_000, seed=9)
    assert inspect.isgenerator(stream)
    started = time.perf_counter()
    count = sum(1 for _ in stream)
    assert count == 50_000
    assert time.perf_counter() - started < 5.0

    # 10x the products must not cost anywhere near 10x the memory (only the oddity index grows). Measured in a
    # process of its own: tracemalloc counts every thread's allocations, and a test process has other threads
    # (the sandbox's servers) allocating meanwhile.
    code = textwrap.dedent(
        """
        import tracemalloc
        from evosync.sandbox import datagen

        groups = datagen.generate_groups(9, 1)  # the group tree grows with n by design; hold it fixed

        def peak(n):
            tracemalloc.start()
            for _ in datagen.iter_products(n, seed=9, groups=groups):
                pass
            top = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            return top

        print(peak(500), peak(5_000))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    small, large = map(int, out.stdout.split())
    assert large < 2 * small + 50_000, (small, large)


def test_ids_have_evotor_shapes():
    """Product ids are lower-case UUID4; store ids look like 20170228-F4F1-401B-80FA-9ECCA8451FFB."""
    rng = random.Random(1)
    store_id = datagen.evotor_store_id(rng)
    parts = store_id.split("-")
    assert [len(p) for p in parts] == [8, 4, 4, 4, 12] and store_id == store_id.upper()
    product_id = catalog(1)[0]["id"]
    assert product_id == product_id.lower() and product_id[14] == "4"
    assert Counter(len(p) for p in product_id.split("-")) == Counter([8, 4, 4, 4, 12])
