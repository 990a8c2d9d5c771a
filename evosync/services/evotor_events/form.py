"""What an Evotor catalog event is: its fields, types and actions, and the statuses of its stored row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PRODUCT, GROUP, IMAGE, STORE = "ProductEvent", "ProductGroupEvent", "ProductImageEvent", "StoreEvent"
EVENT_TYPES = (PRODUCT, GROUP, IMAGE, STORE)
CREATED, UPDATED, REMOVED = "created", "updated", "removed"
ACTIONS = (CREATED, UPDATED, REMOVED)

# Intake answers (accept_event) and the statuses of webhook_events rows (drain_events)
QUEUED = "queued"
DUPLICATE = "duplicate"
APPLIED = "applied"
UNKNOWN_USER = "unknown_user"
IGNORED = "ignored"
FAILED = "failed"

MAX_EVENT_ID = 128


class EventError(ValueError):
    """The event cannot be read (HTTP 400); the message says what is wrong."""


@dataclass
class EventOutcome:
    """What the intake answers: ``queued`` (recorded, applied shortly), ``duplicate`` or ``ignored`` (a type or
    action we do not handle: recorded as such, so Evotor stops redelivering it)."""

    status: str
    event_id: str

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "event_id": self.event_id}


def text_of(value: Any) -> str:
    return "" if value is None or isinstance(value, (dict, list)) else str(value).strip()


def store_id_of(payload: dict, event_type: str) -> str:
    if event_type == STORE:
        return text_of(payload.get("id")) or text_of(payload.get("store_id"))
    return text_of(payload.get("store_id")) or text_of(payload.get("storeId"))


def read_event(body: Any) -> tuple[str, str, str, dict]:
    """(event id, type, action, payload) of a parsed body, or EventError."""
    if not isinstance(body, dict):
        raise EventError("The body must be a JSON object")
    event_id = text_of(body.get("id"))
    if not event_id:
        raise EventError("Field 'id' is required")
    if len(event_id) > MAX_EVENT_ID:
        raise EventError(f"Field 'id' is longer than {MAX_EVENT_ID} characters")
    event_type, action = body.get("type"), body.get("action")
    if not isinstance(event_type, str) or not event_type:
        raise EventError("Field 'type' is required")
    if not isinstance(action, str) or not action:
        raise EventError("Field 'action' is required")
    payload = body.get("payload")
    if not isinstance(payload, dict):
        raise EventError("Field 'payload' must be an object")
    return event_id, event_type, action, payload


def require_ids(event_type: str, payload: dict) -> None:
    if not text_of(payload.get("id")):
        raise EventError("Field 'payload.id' is required")
    if event_type != STORE and not store_id_of(payload, event_type):
        raise EventError("Field 'payload.store_id' is required")
    if event_type == IMAGE and not product_id_of_image(payload):
        raise EventError("Field 'payload.product_id' is required")


def product_id_of_image(payload: dict) -> str:
    return text_of(payload.get("product_id")) or text_of(payload.get("productId"))
