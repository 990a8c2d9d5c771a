"""flask refresh-catalog: runs the refresh inline and prints a summary per user."""

from __future__ import annotations

import sqlalchemy as sa

from evosync.extensions import db
from evosync.models import CachedProduct
from tests.catalog.conftest import connect_merchant, seed_small_catalog


def test_refresh_catalog_for_one_user_prints_the_summary(evotor_app, runner, merchant):
    """--user EMAIL refreshes that user only and prints what changed."""
    result = runner.invoke(args=["refresh-catalog", "--user", "A@example.com"])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output and "products +20" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CachedProduct)) == 20


def test_refresh_catalog_for_everyone_reports_each_user_and_fails_on_a_broken_one(
    evotor_app, runner, sandbox, merchant
):
    """Without --user every connected user is refreshed; a revoked token shows as broken and exits 1."""
    other = seed_small_catalog(sandbox, connect_merchant(sandbox, "token-b", "b@example.com"))
    sandbox.evotor.revoke_token(other.token)
    result = runner.invoke(args=["refresh-catalog"])
    assert result.exit_code == 1
    assert f"user {merchant.user.id}: ok" in result.output
    assert f"user {other.user.id}: broken" in result.output


def test_unknown_email_is_an_error(evotor_app, runner):
    """An email nobody has is reported, not silently ignored."""
    result = runner.invoke(args=["refresh-catalog", "--user", "nobody@example.com"])
    assert result.exit_code != 0 and "no user" in result.output
