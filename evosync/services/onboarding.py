"""The new merchant's checklist: connect Evotor, connect VK, choose stores, first sync; each ticked from the DB."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..models import ConnectionState, EvotorConnection, RunStatus, SyncFilter, SyncRun, VkConnection

# A run that published the catalog counts as "the first sync", even if a few products were refused by VK.
FIRST_SYNC_STATUSES = (RunStatus.SUCCEEDED, RunStatus.PARTIAL)


@dataclass(frozen=True)
class OnboardingStep:
    """One line of the checklist: what to do, where to do it (an endpoint and anchor), and whether it is done."""

    key: str
    title: str
    hint: str
    endpoint: str
    anchor: str
    done: bool
    attention: bool = False  # done once, but needs the merchant again (a broken connection)


@dataclass(frozen=True)
class Onboarding:
    steps: tuple[OnboardingStep, ...]

    @property
    def complete(self) -> bool:
        return all(step.done for step in self.steps)

    @property
    def done_count(self) -> int:
        return sum(1 for step in self.steps if step.done)

    @property
    def next_step(self) -> OnboardingStep | None:
        return next((step for step in self.steps if not step.done), None)

    @property
    def ready_to_sync(self) -> bool:
        """Everything before the first sync is done: «Sync now» can publish."""
        return all(step.done for step in self.steps if step.key != "first_sync")


def _connection_state(row: EvotorConnection | VkConnection | None, needs_group: bool) -> tuple[bool, bool]:
    """(done, attention) for a connection row: connected once with a token (and a community for VK)."""
    if row is None or not row.access_token or row.state == ConnectionState.NOT_CONNECTED:
        return False, False
    if needs_group and not row.group_id:
        return False, False
    return True, row.state == ConnectionState.BROKEN


def onboarding_for(user_id: int) -> Onboarding:
    """The checklist of ``user_id``, computed from their connections, store filters and runs (four small queries)."""
    evotor = db.session.scalar(sa.select(EvotorConnection).where(EvotorConnection.user_id == user_id))
    vk = db.session.scalar(sa.select(VkConnection).where(VkConnection.user_id == user_id))
    evotor_done, evotor_attention = _connection_state(evotor, needs_group=False)
    vk_done, vk_attention = _connection_state(vk, needs_group=True)
    store_chosen = db.session.scalar(
        sa.select(SyncFilter.id)
        .where(SyncFilter.user_id == user_id, SyncFilter.entity_type == "store", SyncFilter.enabled.is_(True))
        .limit(1)
    )
    synced = db.session.scalar(
        sa.select(SyncRun.id)
        .where(
            SyncRun.user_id == user_id,
            SyncRun.dry_run.is_(False),
            SyncRun.status.in_([str(s) for s in FIRST_SYNC_STATUSES]),
        )
        .limit(1)
    )
    return Onboarding(
        steps=(
            OnboardingStep(
                key="evotor",
                title=_l("Connect Evotor"),
                hint=_l("So that EvoSync can read your products."),
                endpoint="connections.index",
                anchor="evotor",
                done=evotor_done,
                attention=evotor_attention,
            ),
            OnboardingStep(
                key="vk",
                title=_l("Connect your VK community"),
                hint=_l("So that EvoSync can publish to its products section."),
                endpoint="connections.index",
                anchor="vk",
                done=vk_done,
                attention=vk_attention,
            ),
            OnboardingStep(
                key="stores",
                title=_l("Choose the stores to publish"),
                hint=_l("Turn on at least one store in your Evotor catalog."),
                endpoint="catalog.stores",
                anchor="",
                done=store_chosen is not None,
            ),
            OnboardingStep(
                key="first_sync",
                title=_l("Run the first sync"),
                hint=_l("Start the first sync on the dashboard and watch your products appear in VK."),
                endpoint="sync.dashboard",
                anchor="sync-now-form",
                done=synced is not None,
            ),
        )
    )
