"""The plan in plain words, for the preview page and the CLI dry run."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

from . import plan_model as p


def N_(text: str) -> str:
    """Marks a word for the translation catalog; plan_entries translates it with _() when it is shown."""
    return text


REASON_WORDS = {
    "name": N_("name"),
    "description": N_("description"),
    "price": N_("price"),
    "stock_amount": N_("stock"),
    "deleted": N_("availability"),
    "category_id": N_("category"),
    "sku": N_("sku"),
    "photo": N_("photo"),
    "restore": N_("restored in VK (it had been removed)"),
    "moderation": N_("sent again to VK's moderation"),
}


@dataclass
class Line:
    action: str  # create | update | remove | hide | skip | album
    title: str
    why: str


def plan_entries(plan: p.Plan, limit: int = 500) -> list[Line]:
    """Up to ``limit`` lines per kind of change, each saying what and why."""
    lines: list[Line] = []
    for op in plan.creates[:limit]:
        lines.append(Line("create", op.desired.title, _("new in Evotor (or not yet in VK)")))
    for op in plan.updates[:limit]:
        changed = [_(REASON_WORDS.get(r, r)) for r in op.reasons]
        lines.append(Line("update", op.desired.title, _("changed: %(what)s", what=", ".join(changed))))
    for op in plan.removals[:limit]:
        action = "hide" if op.mode == "hide" else "remove"
        lines.append(Line(action, op.title, _(op.reason)))
    for op in plan.skipped[:limit]:
        lines.append(Line("skip", op.title, _(op.reason)))
    for op in plan.rejected[:limit]:
        lines.append(Line("skip", op.title, _("rejected by VK's moderation: %(why)s", why=op.reason)))
    for op in plan.album_creates[:limit]:
        lines.append(Line("album", op.title, _("new album for an Evotor group")))
    for op in plan.album_renames[:limit]:
        lines.append(Line("album", op.title, _("album renamed with its Evotor group")))
    for op in plan.album_deletes[:limit]:
        lines.append(Line("album", op.title, _("album is empty now and will be removed")))
    return lines


def plan_lines(plan: p.Plan, guarded: bool = False) -> list[str]:
    s = plan.summary()
    out = [
        f"create {s['create']}, update {s['update']}, remove {s['remove']}, unchanged {s['unchanged']}, "
        f"skipped {s['skipped']}, albums +{s['albums_create']} ~{s['albums_rename']} -{s['albums_delete']}, "
        f"album moves {s['album_moves']}"
    ]
    if guarded:
        out.append("mass-removal guard: the removals would wait for the merchant's confirmation")
    out.extend(f"{line.action:7} {line.title} — {line.why}" for line in plan_entries(plan, limit=50))
    out.extend(f"reserved {r.units} {r.title} — held by open VK orders" for r in plan.reserved[:50])
    return out
