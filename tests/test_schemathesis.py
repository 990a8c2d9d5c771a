"""Property-based run of schemathesis against /openapi.json: no 5xx, and answers conform to the document.

Every documented operation is exercised through the WSGI app with valid (positive) and invalid (negative)
inputs: the webhooks with the partner secret, the connection checks as a logged-in merchant whose
connections point at the sandbox. Bounded by MAX_EXAMPLES per operation and mode (well under 60 s).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from evosync.extensions import db
from evosync.models import ConnectionState, EvotorConnection, VkConnection
from tests.factories import login, make_user

MAX_EXAMPLES = 20
FEW_EXAMPLES = 5  # operations without a body or parameters have little to vary
SECRET = "schemathesis-partner-secret"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def merchant_cookie(app, sandbox):
    """A logged-in merchant whose Evotor and VK connections are live on the sandbox; its session cookie."""
    app.config.update(
        EVOTOR_API_URL=sandbox.evotor_url,
        VK_API_URL=sandbox.vk_url,
        EVOTOR_WEBHOOK_SECRET=SECRET,
        VK_RATE_LIMIT_PER_SECOND=1000,
    )
    sandbox.vk.rate_limit_enabled = False  # the checks repeat quickly; the limiter has its own tests
    sandbox.evotor.add_account("st-evotor")
    sandbox.evotor.add_store("st-evotor", "Магазин")
    sandbox.vk.add_user("st-vk")
    sandbox.vk.add_community(321, "Лавка", admin_tokens=("st-vk",))
    user = make_user()
    db.session.add_all(
        [
            EvotorConnection(user_id=user.id, access_token="st-evotor", state=ConnectionState.CONNECTED),
            VkConnection(user_id=user.id, access_token="st-vk", group_id=321, state=ConnectionState.CONNECTED),
        ]
    )
    db.session.commit()
    client = app.test_client()
    assert login(client, user.email).status_code in (302, 303)
    return client.get_cookie("session").value


def test_api_conforms_and_never_answers_5xx(app, merchant_cookie):
    """Positive and negative inputs to every documented JSON endpoint: no 5xx, documented statuses and bodies."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/user/create", "/user/verify", "/user/token", "/connections/vk/test"}
    headers = {"Authorization": f"Bearer {SECRET}", "Accept": "application/json"}
    cookies = {"session": merchant_cookie}
    for operation in operations:
        # Negative data needs something to break: operations without inputs run positive only.
        has_body = bool(len(operation.body))
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if has_body else [])
        for mode in modes:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=MAX_EXAMPLES if has_body else FEW_EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def exercise(case):
                response = case.call(headers=headers, cookies=cookies)
                case.validate_response(response, checks=CHECKS)

            exercise()
