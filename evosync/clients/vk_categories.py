"""A slice of VK's market category tree (sections with leaf categories, ids as VK numbers them).

The sync settings offer it when VK cannot be asked (not connected, down); the sandbox's VK answers
``market.getCategories`` with it. Data only: no Flask, no models.
"""

from __future__ import annotations

from typing import Any

CATEGORY_TREE: list[dict[str, Any]] = [
    {
        "id": 10000,
        "name": "Гардероб",
        "children": [
            {"id": 1, "name": "Женская одежда"},
            {"id": 2, "name": "Мужская одежда"},
            {"id": 3, "name": "Детская одежда"},
            {"id": 4, "name": "Обувь и сумки"},
            {"id": 5, "name": "Аксессуары и украшения"},
        ],
    },
    {
        "id": 10004,
        "name": "Электроника",
        "children": [
            {"id": 400, "name": "Телефоны и аксессуары"},
            {"id": 401, "name": "Фото- и видеокамеры"},
            {"id": 404, "name": "Компьютеры"},
        ],
    },
    {
        "id": 10007,
        "name": "Продукты питания",
        "children": [
            {"id": 700, "name": "Продукты"},
            {"id": 701, "name": "Напитки"},
            {"id": 702, "name": "Кондитерские изделия"},
        ],
    },
    {
        "id": 10009,
        "name": "Прочее",
        "children": [
            {"id": 900, "name": "Другое"},
            {"id": 901, "name": "Услуги"},
        ],
    },
]
