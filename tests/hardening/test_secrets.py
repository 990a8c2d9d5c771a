"""Secrets: no token in clear in the database or the logs of a full sync; signatures compared in constant time.

Elsewhere: login throttling (tests/accounts/test_login.py: account and address lockouts), single-use and
expiring reset links (tests/accounts/test_password_reset.py) and invites (tests/accounts/test_invite.py).
"""

from __future__ import annotations

import ast
import inspect
import logging
import re
import subprocess
import textwrap
from pathlib import Path

from evosync.extensions import db
from evosync.models import RunStatus
from evosync.services.sync.runner import run_sync
from tests.factories import logged_in_client
from tests.sync_engine.conftest import open_shop


class _Everything(logging.Handler):
    """Collects every record, formatted with its extras and exception text, from every logger."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        extras = {
            k: v for k, v in record.__dict__.items() if k not in logging.LogRecord("", 0, "", 0, "", (), None).__dict__
        }
        text = record.getMessage() + " " + repr(extras)
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.lines.append(text)


def test_no_token_in_the_logs_of_a_full_sync_and_connection_checks(fast_vk, sandbox, capfd):
    """Everything logged at DEBUG by every library (HTTP clients included) during a catalog refresh, a sync
    with faults, and both connection checks, plus what reached stdout/stderr: neither token appears."""
    shop = open_shop(sandbox, n_products=20)
    handler = _Everything()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        sandbox.vk.faults.configure(rate=0.3, kinds=("5xx", "10", "drop_after_write"), seed=4)
        shop.refresh()
        run = run_sync(shop.user_id)
        sandbox.vk.faults.clear()
        run = run_sync(shop.user_id)
        assert run.status == RunStatus.SUCCEEDED, run.error
        web = logged_in_client(fast_vk, shop.user)
        assert web.post("/connections/vk/test", headers={"Accept": "application/json"}).status_code == 200
        assert web.post("/connections/evotor/test", headers={"Accept": "application/json"}).status_code == 200
        sandbox.vk.revoke_token(shop.vk_token)  # a failing check logs too
        web.post("/connections/vk/test", headers={"Accept": "application/json"})
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    out, err = capfd.readouterr()
    logged = "\n".join(handler.lines) + out + err
    assert len(handler.lines) > 20, "the run was really logged"
    for token in (shop.vk_token, shop.evotor_token):
        assert token not in logged, f"token {token[:8]}… found in the logs"


def _all_rows_text() -> str:
    chunks = []
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            # raw driver SQL: the ORM's EncryptedText type would decrypt what it reads
            quoted = f"`{table.name}`" if db.engine.dialect.name == "mysql" else f'"{table.name}"'
            for row in conn.exec_driver_sql(f"SELECT * FROM {quoted}"):
                chunks.append(repr(tuple(row)))
    return "\n".join(chunks)


def test_no_token_in_clear_in_the_database(fast_vk, sandbox):
    """After connecting, refreshing and syncing, neither token is in any column of any table; on SQLite the
    database file's bytes (journal included) do not hold it either."""
    shop = open_shop(sandbox, n_products=10)
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    db.session.commit()
    rows = _all_rows_text()
    assert len(rows) > 1000
    for token in (shop.vk_token, shop.evotor_token):
        assert token not in rows
    url = fast_vk.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("sqlite:///"):
        db.engine.dispose()
        path = Path(url.removeprefix("sqlite:///"))
        # Read in a child process: closing any descriptor of a file drops *this* process's POSIX locks on it,
        # and SQLite's WAL keeps a lock on the -shm file that tells other processes (the worker.py tests) not to
        # truncate the index this process has mapped. Losing it ends the run with SIGBUS.
        files = sorted(str(p) for p in path.parent.glob(path.name + "*"))
        blob = subprocess.run(["cat", *files], capture_output=True, check=True).stdout
        assert blob, "read the database file"
        for token in (shop.vk_token, shop.evotor_token):
            assert token.encode() not in blob and token.encode("utf-16-le") not in blob


def _compares_with_eq(func) -> list[str]:
    """Every ``==``/``!=`` in the function whose operands mention a secret, signature, digest or token."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
            text = ast.unparse(node)
            if re.search(r"secret|signature|digest|given|expected|token", text, re.I):
                found.append(text)
    return found


def test_webhook_secret_and_event_signature_are_compared_in_constant_time():
    """The partner-secret check and the HMAC signature check use hmac.compare_digest (directly or through
    crypto.constant_time_equals) and never compare a secret with == or !=."""
    from evosync import crypto
    from evosync.services.evotor_events import signature as evotor_events
    from evosync.web import evotor_partner_webhooks as webhooks

    checks = [webhooks._check_partner_secret, evotor_events._signed_with]  # verify_signature compares through it
    for func in checks:
        source = inspect.getsource(func)
        assert "compare_digest" in source or "constant_time_equals" in source, func.__qualname__
        assert _compares_with_eq(func) == [], func.__qualname__
    assert "_signed_with(" in inspect.getsource(evotor_events.verify_signature)
    assert _compares_with_eq(evotor_events.verify_signature) == []
    assert "hmac.compare_digest" in inspect.getsource(crypto.constant_time_equals)


def test_no_secret_is_compared_with_eq_anywhere_in_the_app():
    """A scan of the app's source (the sandbox aside): no HMAC digest or secret compared with == or !=."""
    root = Path(__file__).resolve().parents[2] / "evosync"
    offenders = []
    for path in root.rglob("*.py"):
        if "sandbox" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
                text = ast.unparse(node)
                if re.search(r"hexdigest\(\)|\bsecret\b|_secret\b|signature\b", text) and "is None" not in text:
                    offenders.append(f"{path.relative_to(root)}:{node.lineno}: {text}")
    assert offenders == []
