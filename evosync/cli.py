"""Flask CLI commands; each is thin and calls one service."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext


def register_cli(app: Flask) -> None:
    """Command groups are added here as their services land."""
    app.cli.add_command(refresh_vk_catalog_command)
    app.cli.add_command(refresh_catalog_command)


@click.command("refresh-catalog")
@click.option("--user", "email", default=None, help="Only this user (email); default: every connected user.")
@with_appcontext
def refresh_catalog_command(email: str | None) -> None:
    """Refresh Evotor catalog mirrors now (inline, no queue) and print a summary per user."""
    import sqlalchemy as sa

    from .extensions import db
    from .models import User
    from .services.evotor_catalog import OK, refresh_all, refresh_catalog

    if email:
        user = db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == email.strip().lower()))
        if user is None:
            raise click.ClickException(f"no user with email {email}")
        summaries = [refresh_catalog(user.id)]
    else:
        summaries = refresh_all()
        if not summaries:
            click.echo("no connected Evotor accounts")
    for summary in summaries:
        click.echo("\n".join(summary.lines()))
    if any(s.status != OK for s in summaries):
        raise SystemExit(1)


@click.command("refresh-vk-catalog")
@click.option("--user", "email", default=None, help="Only this merchant (email); default: every connected one.")
@with_appcontext
def refresh_vk_catalog_command(email: str | None) -> None:
    """Read VK community markets into the VK catalog mirror (vk_cached_albums / vk_cached_products)."""
    from .extensions import db
    from .models import User
    from .services.vk_catalog import refresh_all_vk_catalogs

    user_ids = None
    if email:
        user = db.session.scalar(db.select(User).where(db.func.lower(User.email) == email.strip().lower()))
        if user is None:
            raise click.ClickException(f"no user with email {email}")
        user_ids = [user.id]
    summaries = refresh_all_vk_catalogs(user_ids)
    for s in summaries:
        click.echo(f"user {s.user_id}: {s.status}: {s.message} ({s.vk_requests} VK requests)")
    if any(s.status == "failed" for s in summaries):
        raise SystemExit(1)
