"""Outgoing TLS to a vendor whose chain ends at a root certifi does not carry (the Минцифры root of some Russian
services): REQUESTS_CA_BUNDLE names a bundle with that root, and every HTTP client EvoSync builds trusts it.

The emulators serve HTTPS here with a certificate from a private CA made for the test."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl

import pytest
import requests
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from evosync.clients.errors import VkIdError
from evosync.clients.vkid import VkIdClient
from evosync.extensions import db
from evosync.models import CachedProduct, ConnectionState, EvotorConnection
from evosync.sandbox import Sandbox
from evosync.services import connections
from evosync.services.evotor_catalog.scope import set_store_enabled
from evosync.services.sync.runner import run_sync
from tests.factories import make_user

EVOTOR_TOKEN = "tls-evotor-token"
VK_TOKEN = "tls-vk-token"
GROUP_ID = 777001


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _private_ca(folder) -> tuple[str, ssl.SSLContext]:
    """A root CA and a server certificate for 127.0.0.1 signed by it: (the CA's PEM path, the server's context)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("EvoSync test root CA"))
        .issuer_name(_name("EvoSync test root CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )  # digital_signature, key_cert_sign, crl_sign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return str(ca_path), context


@pytest.fixture
def https_sandbox(tmp_path):
    ca_path, context = _private_ca(tmp_path)
    sandbox = Sandbox(seed=3, ssl_context=context).start()
    sandbox.evotor.add_account(EVOTOR_TOKEN)
    sandbox.evotor.seed_catalog(EVOTOR_TOKEN, 6, n_stores=1, seed=3, with_images_ratio=1.0)
    sandbox.vk.add_user(VK_TOKEN)
    sandbox.vk.add_community(GROUP_ID, "TLS shop", admin_tokens=(VK_TOKEN,))
    sandbox.vk.rate_limit_enabled = False
    yield sandbox, ca_path
    sandbox.stop()


@pytest.fixture
def tls_app(app, https_sandbox):
    sandbox, _ca = https_sandbox
    app.config.update(
        EVOTOR_API_URL=sandbox.evotor_url,
        VK_API_URL=sandbox.vk_url,
        VK_ID_URL=sandbox.vkid_url,
        EVOTOR_TIMEOUT=5.0,
        VK_TIMEOUT=5.0,
        VK_RATE_LIMIT_PER_SECOND=10_000,
    )
    return app


def test_every_client_trusts_the_bundle_named_by_requests_ca_bundle(tls_app, https_sandbox, monkeypatch):
    """With REQUESTS_CA_BUNDLE naming the private root: the Evotor catalog is read (images downloaded), VK connects,
    the sync publishes with photos uploaded, and the VK ID token endpoint is reached, all over HTTPS."""
    sandbox, ca_path = https_sandbox
    assert sandbox.base_url.startswith("https://")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_path)
    user = make_user()
    assert connections.connect_evotor_by_hand(user.id, EVOTOR_TOKEN).ok
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CachedProduct)) == 6
    assert connections.connect_vk(user.id, VK_TOKEN, str(GROUP_ID)).ok
    store_id = sandbox.evotor.stores(EVOTOR_TOKEN)[0]["id"]
    set_store_enabled(user.id, store_id, True)
    run = run_sync(user.id)
    assert run.status == "succeeded", run.error
    items = [i for i in sandbox.vk.items(GROUP_ID) if not i.get("deleted")]
    assert items and len(items) == run.created_count
    assert all(i.get("main_photo_id") or i.get("photo_ids") for i in items), items[0].keys()
    vkid = VkIdClient(sandbox.vkid_url, "client", timeout=5)
    with pytest.raises(VkIdError) as err:  # an answer from the server: TLS itself went through
        vkid.exchange_code("bad-code", "v" * 43, "device", "https://example.invalid/cb", "state")
    assert err.value.error != "transport_error", err.value


def test_without_the_bundle_the_connection_fails_with_a_clear_message(tls_app, https_sandbox, monkeypatch):
    """Without REQUESTS_CA_BUNDLE the private root is not trusted: the connection check fails and says so in
    words, with no traceback, and nothing is stored as connected."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    user = make_user()
    result = connections.connect_evotor_by_hand(user.id, EVOTOR_TOKEN)
    assert not result.ok and "Traceback" not in result.message
    conn = db.session.scalar(sa.select(EvotorConnection).where(EvotorConnection.user_id == user.id))
    assert conn is None or conn.state != ConnectionState.CONNECTED
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(https_sandbox[0].evotor_url + "/stores", timeout=5)
