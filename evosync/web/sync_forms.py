"""Forms of the sync pages: the settings form and the one-button forms (CSRF only)."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, SelectField, SelectMultipleField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from ..services.sync import settings as svc

ROUNDING_LABELS = {
    "none": _l("No rounding (exact price with kopecks)"),
    "ruble": _l("To whole rubles (123.40 → 123, 123.50 → 124)"),
    "ten": _l("To tens of rubles (123.40 → 120, 125.00 → 130)"),
    "ninety_nine": _l("Up to 99 kopecks (123.40 → 123.99)"),
}
OUT_OF_STOCK_LABELS = {
    "unavailable": _l("Keep it in VK, marked «not available»"),
    "remove": _l("Remove it from VK until it is back in stock"),
    "keep": _l("Keep selling it as usual"),
}
REMOVAL_LABELS = {
    "delete": _l("Delete the item from VK"),
    "unavailable": _l("Keep the item, marked «not available»"),
    "leave": _l("Leave the item in VK untouched"),
}


VK_OWNED_LABELS = {
    "name": _l("Name"),
    "description": _l("Description"),
    "photos": _l("Photos"),
    "album": _l("Album"),
    "price": _l("Price"),
    "stock": _l("Stock and availability"),
}


class CheckboxesField(SelectMultipleField):
    """Several choices as a list of checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ActionForm(FlaskForm):
    """A button that posts: carries only the CSRF token."""


def _known_placeholders(form: FlaskForm, field: TextAreaField) -> None:
    problem = svc.template_error(field.data)
    if problem and problem.startswith("Unknown placeholder"):
        unknown = problem.split(": ", 1)[1]
        raise ValidationError(
            _(
                "Unknown placeholder: %(unknown)s. You can use %(known)s.",
                unknown=unknown,
                known=", ".join("{" + p + "}" for p in svc.PLACEHOLDERS),
            )
        )


class SettingsForm(FlaskForm):
    markup_percent = DecimalField(
        _l("Markup, %"),
        places=2,
        validators=[
            InputRequired(_l("Enter a markup (0 for none).")),
            NumberRange(
                min=svc.MARKUP_MIN, max=svc.MARKUP_MAX, message=_l("The markup must be between -50 and 1000 percent.")
            ),
        ],
        description=_l(
            "VK prices are your Evotor prices plus this percent. 10 makes 100 ₽ into 110 ₽; "
            "a negative number gives a discount. 0 keeps the prices as they are."
        ),
    )
    price_rounding = SelectField(
        _l("Price rounding"),
        choices=list(ROUNDING_LABELS.items()),
        description=_l("After the markup, prices can be rounded so they look tidy in the store."),
    )
    out_of_stock = SelectField(
        _l("When a product runs out"),
        choices=list(OUT_OF_STOCK_LABELS.items()),
        description=_l("What buyers see in VK when the quantity in Evotor is zero or less."),
    )
    removal = SelectField(
        _l("When a product is no longer published"),
        choices=list(REMOVAL_LABELS.items()),
        description=_l(
            "Applies when a product is deleted in Evotor, no longer for sale, or its store or group is switched off. "
            "Items you added in VK by hand are never touched."
        ),
    )
    category_id = SelectField(
        _l("VK category"),
        coerce=int,
        validate_choice=False,  # checked against VK's list in validate_category_id, with a message
        description=_l("The category VK shows your products under. Pick the one closest to what you sell."),
    )
    description_template = TextAreaField(
        _l("Description template"),
        validators=[
            Length(max=svc.TEMPLATE_MAX, message=_l("The template is too long: at most 2000 characters.")),
            _known_placeholders,
        ],
        render_kw={"rows": 3, "placeholder": svc.mapping.DEFAULT_DESCRIPTION_TEMPLATE},
        description=_l(
            "Used when a product has no description in Evotor. Placeholders: {name}, {article}, {code}, {measure}, "
            "{price}. Leave empty for the standard text (name, article and unit)."
        ),
    )
    albums_enabled = BooleanField(
        _l("Sort products into albums"),
        description=_l("One VK album per Evotor group, named after it."),
    )
    publish_services = BooleanField(
        _l("Publish services too"),
        description=_l("Evotor items of the «service» type (e.g. delivery, repairs) also appear in VK."),
    )
    publish_alcohol = BooleanField(
        _l("Publish alcohol (beer included)"),
        description=_l(
            "Off by default. Russian law (171-FZ) forbids selling alcohol at a distance; VK removes such items and "
            "can close your community's market. Switch on only if you have a legal basis, e.g. you only show goods "
            "for sale in the shop. The switch is recorded."
        ),
    )
    publish_tobacco = BooleanField(
        _l("Publish tobacco and nicotine products"),
        description=_l(
            "Off by default. Russian law (15-FZ) forbids selling tobacco and nicotine products at a distance; VK "
            "removes such items and can close your community's market. The switch is recorded."
        ),
    )
    vk_owned = CheckboxesField(
        _l("VK decides after the first publication"),
        choices=list(VK_OWNED_LABELS.items()),
        description=_l(
            "Ticked fields are set from Evotor once, when the item is first published; after that EvoSync leaves "
            "them as you edit them in VK. Unticked fields always follow Evotor."
        ),
    )
    group_by_name = BooleanField(
        _l("Group products named «Name (flavour)» into one card"),
        description=_l(
            "For products kept as separate items in Evotor, e.g. «Lemonade (pear)» and «Lemonade (tarragon)»: VK shows "
            "one card «Lemonade» where the buyer picks the flavour. Needs VK's extended products mode. The preview "
            "shows the cards it would make."
        ),
    )
    auto_sync = BooleanField(
        _l("Sync automatically"),
        description=_l("Keep VK up to date by itself when your catalog changes. Off: only when you press «Sync now»."),
    )
    submit = SubmitField(_l("Save settings"))

    def set_categories(self, categories: list[svc.Category], current: int | None) -> None:
        """Fill the VK category list (grouped by section); keep the saved one even if VK dropped it."""
        grouped: dict[str, list[tuple[int, str]]] = {}
        for cat in categories:
            grouped.setdefault(cat.section or _("Other"), []).append((cat.id, cat.name))
        self.category_ids = {c.id for c in categories}
        if current is not None and current not in self.category_ids:
            grouped.setdefault(_("Saved earlier"), []).append((current, _("Category %(id)s", id=current)))
            self.category_ids.add(current)
        self.category_id.choices = grouped

    def validate_category_id(self, field: SelectField) -> None:
        if field.data not in getattr(self, "category_ids", set()):
            raise ValidationError(_("Choose a category from the list."))

    def values(self) -> svc.SettingsValues:
        return svc.SettingsValues(
            markup_percent=Decimal(self.markup_percent.data),
            price_rounding=self.price_rounding.data,
            out_of_stock=self.out_of_stock.data,
            removal=self.removal.data,
            category_id=self.category_id.data,
            description_template=self.description_template.data or "",
            albums_enabled=self.albums_enabled.data,
            publish_services=self.publish_services.data,
            auto_sync=self.auto_sync.data,
            publish_alcohol=self.publish_alcohol.data,
            publish_tobacco=self.publish_tobacco.data,
            vk_owned=frozenset(self.vk_owned.data or ()),
            group_by_name=self.group_by_name.data,
        )
