"""/health tells an operator whether the app, its database and its Redis are alive."""

from evosync import create_app


def test_health_ok(client):
    """With database and Redis up, /health answers 200 with status ok and the version."""
    resp = client.get("/health")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["redis"] == "ok"
    assert body["version"]
    assert resp.headers["X-Request-ID"]


def test_health_503_when_database_down(app, tmp_path):
    """When the database cannot be reached, /health answers 503 and names the database."""
    broken = create_app(
        {
            **app.config,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/missing/dir/x.db",
            "SQLALCHEMY_ENGINE_OPTIONS": {},
        }
    )
    resp = broken.test_client().get("/health")
    assert resp.status_code == 503
    assert resp.get_json()["database"] == "error"


def test_health_503_when_redis_down(app, client):
    """When Redis is unreachable, /health answers 503 and names Redis."""
    from evosync.redis_conn import make_redis
    from tests.services import free_port

    app.extensions["evosync_redis"] = make_redis(f"redis://127.0.0.1:{free_port()}/0")
    resp = client.get("/health")
    assert resp.status_code == 503
    assert resp.get_json()["redis"] == "error"
