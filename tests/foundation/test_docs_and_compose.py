"""The README's tables stay true, and docker-compose.yml only names things the project has."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")

# Routes that belong to libraries' internals (Flask-Admin list actions, rq-dashboard data endpoints, assets).
INTERNAL = re.compile(
    r"^/(static|bootstrap|fs-static|admin/static|docs/assets|redoc/assets)/|/action/$|/details/$"
    r"|^/admin/rq/.+|^/admin/users/bulk-delete$|^/catalog/$|^/vk-catalog/$"
)


def _readme_paths() -> set[str]:
    paths = set()
    for line in README.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 3 and re.fullmatch(r"(GET|POST)(, (GET|POST))*", cells[1] or ""):
            for path in cells[2].split(","):
                path = path.strip().replace("&lt;", "<").replace("&gt;", ">")
                paths.add(re.sub(r"<[^>]+>", "<>", path.split(";")[0].strip()))
            for extra in re.findall(r"(/[\w/-]*&lt;\w+&gt;[\w/-]*)", cells[3]):
                paths.add(re.sub(r"<[^>]+>", "<>", extra.replace("&lt;", "<").replace("&gt;", ">")))
    return paths


def test_every_route_is_in_the_readme(app):
    """Each URL rule of the app (less library internals) has a row in README's routes table."""
    documented = _readme_paths()
    missing = []
    for rule in app.url_map.iter_rules():
        if INTERNAL.search(rule.rule):
            continue
        normalised = re.sub(r"<[^>]+>", "<>", rule.rule)
        if normalised not in documented:
            missing.append(rule.rule)
    assert missing == []


def test_every_setting_is_in_the_readme():
    """Each environment variable the config reads is in README's configuration table."""
    source = (ROOT / "evosync" / "config.py").read_text(encoding="utf-8")
    names = set(re.findall(r'env_(?:str|int|float|bool)\("([A-Z_]+)"', source)) - {"FLASK_ENV"}
    missing = sorted(n for n in names if f"`{n}`" not in README)
    assert missing == []


def _command(service: dict) -> str:
    command = service["command"]
    return command if isinstance(command, str) else " ".join(command)


def test_compose_services_commands_and_variables_exist():
    """Every compose service runs something the project has, and every variable it uses is documented."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"migrate", "web", "worker", "scheduler", "dashboard", "db", "redis"} <= set(services)
    for name in ("migrate", "web", "worker", "scheduler", "dashboard"):
        command = _command(services[name])
        for script in re.findall(r"python (\w+\.py)", command):
            assert (ROOT / script).is_file(), f"{name}: {script} missing"
        for module in re.findall(r"python -m ([\w.]+)", command):
            assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), f"{name}: {module} missing"
        if "wsgi:app" in command:
            assert (ROOT / "wsgi.py").is_file()
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    env_example = (ROOT / ".env.example").read_text(encoding="utf-8")
    for variable in set(re.findall(r"\$\$?\{(\w+)", text)):
        assert re.search(rf"^{variable}=", env_example, re.M), f"{variable} not in .env.example"
    assert services["db"]["image"].startswith("mariadb:11.4") and "healthcheck" in services["db"]
    assert services["redis"]["image"].startswith("redis:7") and "healthcheck" in services["redis"]
    assert "8080:8000" in services["web"]["ports"] and "5555:5555" in services["dashboard"]["ports"]


def test_compose_migrates_once_before_the_app_starts_and_checks_health():
    """Migrations run in their own one-off service; web, worker and scheduler wait for it to succeed, run no
    migration themselves, and each has a health check of its own."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
    assert _command(services["migrate"]) == "flask db upgrade" and services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "scheduler"):
        assert "upgrade" not in _command(services[name])
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert services[name]["healthcheck"]["test"] == ["CMD", "python", "-m", "evosync.healthcheck", name]
    assert services["dashboard"]["profiles"] == ["dashboard"]  # opt-in; /admin/rq is always there for staff


def test_compose_file_follows_the_compose_specification():
    """docker-compose.yml validates against the Compose Specification's JSON schema (vendored by check-jsonschema)."""
    import subprocess
    import sys

    checker = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(ROOT / "docker-compose.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_keeps_code_read_only_and_state_in_the_home():
    """The image runs as the non-root user, its code is root's (no --chown), its state is in the user's home, and
    `flask` finds the app without --app."""
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert dockerfile.startswith("# ") and "FROM python:3.12-slim" in dockerfile
    assert (
        "USER evosync" in dockerfile
        and "gunicorn" in dockerfile
        and "--chown" not in dockerfile.replace("No --chown", "")
    )
    assert "EVOSYNC_INSTANCE_PATH=/home/evosync/instance" in dockerfile and "FLASK_APP=evosync" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".env", ".venv", "instance", ".git"} <= set(ignored)
