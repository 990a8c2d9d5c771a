"""Flask CLI commands; each is thin and calls one service."""

from __future__ import annotations

import os
import sys

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import with_appcontext

from .demo import DemoRefused, ensure_demo_accounts, start_demo_flow
from .extensions import db
from .models import User, VkConnection
from .services import accounts
from .services.connection_problems import NotConnectedError
from .services.evotor_catalog.refresh import refresh_all, refresh_catalog
from .services.evotor_catalog.summary import BROKEN, FAILED
from .services.sync.describe import plan_lines
from .services.sync.runner import preview, run_sync
from .services.vk_catalog.refresh import refresh_all_vk_catalogs


def register_cli(app: Flask) -> None:
    """Command groups are added here as their services land."""
    app.cli.add_command(users_cli)
    app.cli.add_command(refresh_vk_catalog_command)
    app.cli.add_command(refresh_catalog_command)
    app.cli.add_command(sync_vk_command)
    app.cli.add_command(demo_setup_command)


@click.command("demo-setup")
@with_appcontext
def demo_setup_command() -> None:
    """Create the demo merchant (sandbox connections) and start its first sync; DEMO_MODE only."""
    try:
        merchant = ensure_demo_accounts()
    except DemoRefused as exc:
        raise click.ClickException(str(exc)) from None
    start_demo_flow(merchant)
    click.echo(f"demo merchant ready: {merchant.email}")


@click.command("sync-vk")
@click.option("--user", "email", default=None, help="Only this merchant (email); default: every connected one.")
@click.option("--dry-run", is_flag=True, help="Print the plan from the current mirrors; change nothing in VK.")
@click.option("--confirm-removals", is_flag=True, help="Let this run remove more than the mass-removal guard allows.")
@with_appcontext
def sync_vk_command(email: str | None, dry_run: bool, confirm_removals: bool) -> None:
    """Sync Evotor to VK now, inline (no queue), and print the plan or the result per merchant."""
    if email:
        user = db.session.scalar(db.select(User).where(db.func.lower(User.email) == email.strip().lower()))
        if user is None:
            raise click.ClickException(f"no user with email {email}")
        user_ids = [user.id]
    else:
        user_ids = list(db.session.scalars(db.select(VkConnection.user_id).where(VkConnection.group_id.is_not(None))))
    failed = False
    for user_id in user_ids:
        if dry_run:
            try:
                result = preview(user_id)
            except NotConnectedError as exc:
                click.echo(f"user {user_id}: {exc}")
                failed = True
                continue
            click.echo(f"user {user_id}: dry run")
            for line in plan_lines(result.plan, guarded=result.guarded):
                click.echo("  " + line)
            continue
        run = run_sync(user_id, trigger="cli", confirm_removals=confirm_removals)
        click.echo(
            f"user {user_id}: run {run.id} {run.status}: created {run.created_count}, updated "
            f"{run.updated_count}, removed {run.removed_count}, failed {run.failed_count}, "
            f"unchanged {run.unchanged_count}, VK requests {run.api_requests}"
        )
        if run.error:
            click.echo(f"  {run.error}")
        failed = failed or run.status == "failed"
    if failed:
        raise SystemExit(1)


@click.command("refresh-catalog")
@click.option("--user", "email", default=None, help="Only this user (email); default: every connected user.")
@with_appcontext
def refresh_catalog_command(email: str | None) -> None:
    """Refresh Evotor catalog mirrors now (inline, no queue) and print a summary per user."""
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
    if any(s.status in (BROKEN, FAILED) for s in summaries):  # paused or not connected is no failure
        raise SystemExit(1)


@click.command("refresh-vk-catalog")
@click.option("--user", "email", default=None, help="Only this merchant (email); default: every connected one.")
@with_appcontext
def refresh_vk_catalog_command(email: str | None) -> None:
    """Read VK community markets into the VK catalog mirror (vk_cached_albums / vk_cached_products)."""
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


@click.group("users")
def users_cli() -> None:
    """Create users and grant roles (e.g. the first system user), list users."""


@users_cli.command("create")
@click.argument("email")
@click.option("--password", default=None, help="Else $EVOSYNC_PASSWORD, else read from stdin (prompted on a terminal).")
@click.option("--role", default="user", show_default=True, help="system, admin or user.")
@click.option("--admin", "as_admin", is_flag=True, help="Shorthand for --role admin.")
@click.option("--name", default="", help="Display name.")
@with_appcontext
def users_create_command(email: str, password: str | None, role: str, as_admin: bool, name: str) -> None:
    """Create an active, confirmed user with one role (non-interactive when the password is given)."""
    if as_admin:
        if role not in ("user", "admin"):
            raise click.UsageError("--admin and --role disagree: pass one of them")
        role = "admin"
    password = password or os.environ.get("EVOSYNC_PASSWORD")
    if not password:
        if sys.stdin.isatty():
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        else:
            password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise click.ClickException("no password: pass --password, set EVOSYNC_PASSWORD or pipe it on stdin")
    try:
        user = accounts.create_user(email, password, role=role, name=name)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {user.email} (id {user.id}, role {role})")


@users_cli.command("set-role")
@click.argument("email")
@click.argument("role")
@with_appcontext
def users_set_role_command(email: str, role: str) -> None:
    """Give the user exactly this role (system, admin or user)."""
    user = accounts.find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"no user with email {email}")
    try:
        accounts.set_role(user, role)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{user.email}: role {role}")


@users_cli.command("list")
@with_appcontext
def users_list_command() -> None:
    """Every user: id, email, roles, status."""
    for user in accounts.list_users():
        roles = ",".join(sorted(user.role_names)) or "-"
        click.echo(f"{user.id}\t{user.email}\t{roles}\t{user.status}")
