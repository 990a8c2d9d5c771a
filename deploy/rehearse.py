#!/usr/bin/env python3
"""Deployment rehearsal without a Docker engine: build "the image" as the Dockerfile says, start every compose
service's command as the image's user, and walk a merchant through it.

    python deploy/rehearse.py --mariadb-socket /run/mysqld.sock --mariadb-port 3307 --redis-url redis://127.0.0.1:6391/2

What it does, in the order a `docker compose up` would:
1. checks docker-compose.yml against the Compose Specification's schema (check-jsonschema's vendored copy);
2. follows the Dockerfile: a fresh venv gets ``pip install -r requirements.txt``, the COPY lines lay the tree out
   under WORK/app (owned by root unless --chown, as in the image), the image's user is created, its ENV is kept;
3. writes .env from .env.example with generated secrets (deploy/make_env.py, as the README says), pointing the
   vendor URLs at a sandbox emulator, and creates the database and its user with DB_PASSWORD, as the mariadb
   image does from MARIADB_DATABASE / MARIADB_USER / MARIADB_PASSWORD;
4. runs each app service's command as the image's user with the compose environment (the image's ENV, then
   env_file, then ``environment``, with ``${...}`` interpolated), the hosts ``db`` and ``redis`` mapped to the
   given MariaDB and Redis; a one-off service (``restart: "no"``, e.g. migrate) must finish first;
5. proves it: each service's own health check passes, ``flask users create --admin`` works in the web
   service's environment, the dashboard answers only with its password, and a merchant installed by Evotor
   gets the welcome email from the worker, sets a password, connects VK and syncs through gunicorn + worker.

Exit status 0 when every step passed; each step prints one line. ``--tree`` rehearses another checkout (for
instance an older main) with this script.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests
import yaml

HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"
EVOTOR_USER = "01-000000099000001"
MERCHANT_EMAIL = "rehearsal-merchant@example.com"
MERCHANT_PASSWORD = "Rehearsal-Pass-" + secrets.token_hex(4)
ADMIN_EMAIL = "rehearsal-ops@example.com"


class Failed(Exception):
    """A rehearsal step failed; the message says which and why."""


def say(text: str) -> None:
    sys.stdout.write(f"[rehearse] {text}\n")
    sys.stdout.flush()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------------------ the image


class Image:
    """What the Dockerfile builds, laid out on this machine: the tree, the venv, the user, the environment."""

    def __init__(self, tree: Path, work: Path) -> None:
        self.tree = tree
        self.work = work
        self.root = work / "image"  # stands for the image's /
        self.venv = work / "venv"
        self.env: dict[str, str] = {}
        self.workdir = "/"
        self.user = "root"
        self.cmd: list[str] = []
        self.tree_env_dir = work  # where compose's env_file (.env) is written

    def path(self, image_path: str) -> Path:
        """Where an image path lives here: the code under WORK/image, absolute paths outside /app as they are
        (the user's home and its instance folder are real, as the user is)."""
        if image_path.startswith("/home/"):
            return Path(image_path)
        return self.root / image_path.lstrip("/")

    @property
    def app_dir(self) -> Path:
        return self.path(self.workdir)

    def build(self) -> None:
        self.root.mkdir(parents=True)
        os.chmod(self.work, 0o755)  # noqa: S103 - the image's user must reach the code and the venv
        os.chmod(self.root, 0o755)  # noqa: S103
        # The system's python3 (Debian's, with python3-venv): one the image's user can run, as the image's is.
        subprocess.run([SYSTEM_PYTHON, "-m", "venv", str(self.venv)], check=True)
        for instruction, args in dockerfile_instructions(self.tree / "Dockerfile"):
            getattr(self, f"do_{instruction.lower()}", self.do_other)(instruction, args)

    def do_other(self, instruction: str, args: str) -> None:
        if instruction not in ("FROM", "EXPOSE", "HEALTHCHECK", "LABEL"):
            raise Failed(f"Dockerfile: {instruction} is not understood by the rehearsal")

    def do_env(self, _i: str, args: str) -> None:
        for item in shlex.split(args):
            name, _, value = item.partition("=")
            self.env[name] = os.path.expandvars(value)

    def do_workdir(self, _i: str, args: str) -> None:
        self.workdir = args.strip()
        self.app_dir.mkdir(parents=True, exist_ok=True)

    def do_user(self, _i: str, args: str) -> None:
        self.user = args.strip()

    def do_cmd(self, _i: str, args: str) -> None:
        self.cmd = yaml.safe_load(args)

    def do_copy(self, _i: str, args: str) -> None:
        parts = shlex.split(args)
        chown = next((p.split("=", 1)[1] for p in parts if p.startswith("--chown=")), None)
        parts = [p for p in parts if not p.startswith("--")]
        *sources, dest = parts
        target = self.app_dir / dest if not dest.startswith("/") else self.path(dest)
        for source in sources:
            src = self.tree / source
            out = target / src.name if dest.endswith("/") or len(sources) > 1 else target
            if src.is_dir():
                shutil.copytree(src, out, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.mo"))
            else:
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, out)
            owner = chown.split(":")[0] if chown else "root"
            for path in [out, *(out.rglob("*") if out.is_dir() else [])]:
                shutil.chown(path, owner, owner)
                path.chmod(0o755 if path.is_dir() else 0o644)  # a git checkout's modes, as the build context has

    def do_run(self, _i: str, args: str) -> None:
        command = args.strip()
        if command.startswith("useradd"):
            name = shlex.split(command)[-1]
            try:
                pwd.getpwnam(name)
                say(f"image user {name} exists already (uid {pwd.getpwnam(name).pw_uid})")
            except KeyError:
                # The Dockerfile's RUN lines are shell commands, run as Docker runs them.
                with_uid = subprocess.run(command, shell=True, capture_output=True, text=True)  # noqa: S602
                if with_uid.returncode != 0:  # the uid is taken on this machine: any uid will do here
                    subprocess.run(re.sub(r"--uid \d+ ", "", command), shell=True, check=True)  # noqa: S602
            return
        env = {**os.environ, **self.env, "PATH": f"{self.venv}/bin:{os.environ['PATH']}"}
        if command.startswith("pip "):
            say(f"RUN {command} (a fresh venv, {self.venv})")
        run_as = None if self.user == "root" else self.user
        result = subprocess.run(  # noqa: S602 - a Dockerfile RUN line
            command, shell=True, cwd=self.app_dir, env=env, user=run_as, group=run_as, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise Failed(f"Dockerfile RUN {command!r} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, args = line.partition(" ")
            out.append((instruction.upper(), args))
    return out


# ------------------------------------------------------------------------------------------------ compose


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` and ``$$``."""

    def one(match: re.Match) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        current = variables.get(name, "")
        if op == ":?" and not current:
            raise Failed(f"compose: {arg or name + ' is required'}")
        if op == ":-" and not current:
            return arg
        return current

    value = value.replace("$$", "\0")
    value = re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", one, value)
    return value.replace("\0", "$")


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\s*([A-Za-z_]\w*)=(.*)$", line)
        if match:
            values[match.group(1)] = match.group(2)
    return values


class Service:
    def __init__(self, name: str, spec: dict, image: Image, dotenv: dict[str, str], maps: dict[str, str]) -> None:
        self.name = name
        self.spec = spec
        self.port = free_port()
        env = dict(image.env)
        for env_file in _as_list(spec.get("env_file")):
            env.update(read_env_file(image.tree_env_dir / env_file))
        environment = spec.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        env.update({k: interpolate(str(v), dotenv) for k, v in environment.items() if v is not None})
        for needle, replacement in maps.items():
            env = {k: v.replace(needle, replacement) for k, v in env.items()}
        # Ports: what compose publishes is bound here on a free loopback port instead.
        env.update(PORT=str(self.port), RQ_DASHBOARD_PORT=str(self.port), RQ_DASHBOARD_BIND="127.0.0.1")
        self.env = env
        command = spec.get("command") or image.cmd
        if isinstance(command, str):
            command = ["sh", "-c", interpolate(command, {**dotenv, **env})]
        self.command = [self._bind(str(part)) for part in command]
        self.proc: subprocess.Popen | None = None
        self.log_path = image.work / f"{name}.log"

    def _bind(self, part: str) -> str:
        for mapping in _as_list(self.spec.get("ports")):
            inside = str(mapping).split(":")[-1]
            part = part.replace(f"0.0.0.0:{inside}", f"127.0.0.1:{self.port}")
            part = re.sub(rf"--port {inside}\b", f"--port {self.port}", part)
        return part

    @property
    def one_off(self) -> bool:
        return str(self.spec.get("restart", "")) == "no"


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# ------------------------------------------------------------------------------------------------ the rehearsal


class Rehearsal:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tree = Path(args.tree).resolve()
        self.work = Path(tempfile.mkdtemp(prefix="evosync-rehearsal-"))
        self.image = Image(self.tree, self.work)
        self.services: dict[str, Service] = {}
        self.sandbox: subprocess.Popen | None = None
        self.steps: list[str] = []
        self.problems: list[str] = []  # failures that do not stop the rehearsal

    # --- helpers

    def step(self, text: str) -> None:
        self.steps.append(text)
        say(f"ok: {text}")

    def as_image_user(self, service: Service, command: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(
            command,
            cwd=self.image.app_dir,
            env=self._process_env(service),
            user=self.image.user,
            group=self.image.user,
            capture_output=True,
            text=True,
            timeout=120,
            **kwargs,
        )

    def _process_env(self, service: Service) -> dict[str, str]:
        home = pwd.getpwnam(self.image.user).pw_dir
        return {
            "PATH": f"{self.image.venv}/bin:/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "LANG": "C.UTF-8",
            **service.env,
        }

    # --- steps

    def validate_compose(self) -> dict:
        compose_file = self.tree / "docker-compose.yml"
        checker = Path(sys.executable).with_name("check-jsonschema")
        result = subprocess.run(
            [str(checker), "--builtin-schema", "vendor.compose-spec", str(compose_file)], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise Failed(f"docker-compose.yml does not follow the Compose Specification:\n{result.stdout}")
        self.step("docker-compose.yml validates against the Compose Specification schema")
        return yaml.safe_load(compose_file.read_text(encoding="utf-8"))

    def build_image(self) -> None:
        started = time.monotonic()
        self.image.build()
        if self.image.user == "root":
            raise Failed("the Dockerfile runs the app as root")
        writable = [p for p in self.image.app_dir.rglob("*.py") if p.owner() == self.image.user]
        if writable:  # noted, and the rehearsal goes on to show what else breaks
            self.problems.append(f"{len(writable)} code files (e.g. {writable[0]}) belong to the image user")
            say(f"PROBLEM: {self.problems[-1]}")
        self.step(
            f"image laid out in {time.monotonic() - started:.0f} s: code under {self.image.app_dir}, "
            f"app user {self.image.user}, venv from requirements.txt"
        )

    def start_sandbox(self) -> str:
        port = free_port()
        self.sandbox = subprocess.Popen(
            [sys.executable, "-m", "evosync.sandbox", "--port", str(port), "--demo", "--quiet"],
            cwd=HERE.parent,
            stdout=subprocess.DEVNULL,
            stderr=(self.work / "sandbox.log").open("w"),
        )
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: requests.get(f"{url}/_sandbox/health", timeout=2).ok, 30, "the sandbox did not start")
        return url

    def write_env(self, sandbox_url: str, web_port_hint: int) -> dict[str, str]:
        make_env = HERE / "make_env.py"
        env_path = self.work / ".env"
        subprocess.run(
            [sys.executable, str(make_env), "--example", str(self.tree / ".env.example"), "-o", str(env_path)],
            check=True,
            capture_output=True,
        )
        # What an operator edits after generating the secrets: the address and the vendors (here the emulators).
        edits = {
            "BASE_URL": f"http://127.0.0.1:{web_port_hint}",
            "EVOTOR_API_URL": f"{sandbox_url}/evotor",
            "VK_API_URL": f"{sandbox_url}/vk/method",
            "VK_ID_URL": f"{sandbox_url}/vkid",
        }
        text = env_path.read_text(encoding="utf-8")
        if not re.search(r"^EVOTOR_WEBHOOK_SECRET=\S", text, re.M):  # an older make_env or none at all
            edits["EVOTOR_WEBHOOK_SECRET"] = secrets.token_urlsafe(32)
        for name, value in edits.items():
            text = re.sub(rf"^{name}=.*$", f"{name}={value}", text, flags=re.M)
        env_path.write_text(text, encoding="utf-8")
        os.chmod(env_path, 0o644)
        return read_env_file(env_path)

    def create_database(self, dotenv: dict[str, str]) -> None:
        """What the mariadb image does on first start with MARIADB_DATABASE/USER/PASSWORD."""
        name, user, password = "evosync", "evosync", dotenv["DB_PASSWORD"]
        sql = (
            f"DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}` CHARACTER SET utf8mb4 "
            f"COLLATE utf8mb4_unicode_ci; CREATE USER IF NOT EXISTS '{user}'@'127.0.0.1'; "
            f"ALTER USER '{user}'@'127.0.0.1' IDENTIFIED BY '{password}'; "
            f"GRANT ALL ON `{name}`.* TO '{user}'@'127.0.0.1';"
        )
        subprocess.run(
            ["mariadb", f"--socket={self.args.mariadb_socket}", "-uroot", "-e", sql], check=True, capture_output=True
        )
        self.step("database evosync and its user created with the generated DB_PASSWORD")

    def start(self, service: Service) -> None:
        out = service.log_path.open("w")
        service.proc = subprocess.Popen(
            service.command,
            cwd=self.image.app_dir,
            env=self._process_env(service),
            user=self.image.user,
            group=self.image.user,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def run_services(self, compose: dict, dotenv: dict[str, str]) -> None:
        redis = urlsplit(self.args.redis_url)
        maps = {
            "redis://redis:6379/0": self.args.redis_url,
            "@db:3306/": f"@127.0.0.1:{self.args.mariadb_port}/",
            "redis://redis:6379": f"redis://{redis.hostname}:{redis.port}",
        }
        apps = {name: spec for name, spec in compose["services"].items() if "build" in spec}
        for name, spec in apps.items():
            self.services[name] = Service(name, spec, self.image, dotenv, maps)
        web = self.services["web"]
        for service in self.services.values():
            service.env["BASE_URL"] = f"http://127.0.0.1:{web.port}"
        for service in [s for s in self.services.values() if s.one_off]:
            self.start(service)
            code = service.proc.wait(timeout=300)
            if code != 0:
                raise Failed(f"one-off service {service.name} exited {code}:\n{tail(service.log_path)}")
            self.step(f"{service.name} ran once and exited 0 ({' '.join(service.command)})")
        for service in [s for s in self.services.values() if not s.one_off]:
            self.start(service)
        say(f"started {', '.join(s.name for s in self.services.values() if not s.one_off)} as {self.image.user}")

    def check_health(self) -> None:
        web_health = f"http://127.0.0.1:{self.services['web'].port}/health"
        for name in ("web", "worker", "scheduler"):
            service = self.services[name]
            test = (service.spec.get("healthcheck") or {}).get("test")
            command = (test[1:] if test[0] == "CMD" else ["sh", "-c", test[1]]) if test else None
            if command is None:  # noted; a plain check stands in, to show what else breaks
                self.problems.append(f"compose service {name} has no health check")
                say(f"PROBLEM: {self.problems[-1]}")
            started = time.monotonic()

            def healthy(service=service, command=command, started=started) -> bool:
                self._alive(service)
                if command:
                    return self.as_image_user(service, command).returncode == 0
                if service.name == "web":
                    return requests.get(web_health, timeout=3).status_code == 200
                return time.monotonic() - started > 10  # still running after 10 s

            wait_until(healthy, 90, f"{name}'s health check did not pass:\n{tail(service.log_path)}")
            self.step(f"{name} is healthy ({' '.join(command) if command else 'no health check of its own'})")
        body = requests.get(f"http://127.0.0.1:{self.services['web'].port}/health", timeout=10)
        if body.status_code != 200:
            raise Failed(f"/health answered {body.status_code}")
        stats = body.json()
        self.step(f"web /health 200: workers {stats.get('workers')}, scheduler {stats.get('scheduler')}")

    def _alive(self, service: Service) -> None:
        if service.proc.poll() is not None:
            raise Failed(f"{service.name} exited {service.proc.returncode}:\n{tail(service.log_path)}")

    def create_admin(self) -> None:
        web = self.services["web"]
        result = self.as_image_user(
            web, ["flask", "users", "create", "--admin", ADMIN_EMAIL, "--password", "Ops-" + secrets.token_hex(8)]
        )
        if result.returncode != 0:
            raise Failed(f"flask users create --admin failed:\n{result.stdout}{result.stderr}")
        self.step(f"`flask users create --admin` in web's environment: {result.stdout.strip().splitlines()[-1]}")

    def check_dashboard(self, dotenv: dict[str, str]) -> None:
        service = self.services.get("dashboard")
        if service is None:
            raise Failed("compose has no dashboard service")
        url = f"http://127.0.0.1:{service.port}/"

        def answers() -> bool:
            self._alive(service)
            try:
                return requests.get(url, timeout=3).status_code == 401
            except requests.ConnectionError:
                return False

        wait_until(answers, 60, f"the dashboard did not answer:\n{tail(service.log_path)}")
        auth = (dotenv.get("RQ_DASHBOARD_USERNAME") or "admin", dotenv["RQ_DASHBOARD_PASSWORD"])
        page = requests.get(url, auth=auth, timeout=10)
        if page.status_code != 200:
            raise Failed(f"the dashboard answered {page.status_code} with its password")
        self.step("dashboard: 401 without the password, 200 with it")

    def merchant_story(self, dotenv: dict[str, str]) -> None:
        """Evotor installs the app for a merchant; the rest happens through gunicorn and the worker."""
        base = f"http://127.0.0.1:{self.services['web'].port}"
        auth = {"Authorization": f"Bearer {dotenv.get('EVOTOR_WEBHOOK_SECRET', '')}"}
        created = requests.post(
            f"{base}/user/create", json={"userId": EVOTOR_USER, "email": MERCHANT_EMAIL}, headers=auth, timeout=30
        )
        if created.status_code != 200:
            raise Failed(f"/user/create answered {created.status_code}: {created.text[:300]}")
        token = requests.post(
            f"{base}/user/token", json={"userId": EVOTOR_USER, "token": "demo-evotor-token"}, headers=auth, timeout=30
        )
        if token.status_code != 200:
            raise Failed(f"/user/token answered {token.status_code}: {token.text[:300]}")
        self.step("Evotor's /user/create and /user/token accepted by gunicorn")

        worker_log = self.services["worker"].log_path
        link = wait_until(
            lambda: re.search(rf"{re.escape(base)}/invite\?token=[\w.-]+", worker_log.read_text(errors="replace")),
            60,
            f"the worker sent no welcome email:\n{tail(worker_log)}",
        ).group(0)
        self.step("the worker took the email job and sent the welcome email (console provider)")

        browser = requests.Session()
        form = browser.get(link, timeout=30)
        answer = browser.post(
            link,
            data={
                "csrf_token": csrf(form.text),
                "name": "Rehearsal",
                "password": MERCHANT_PASSWORD,
                "password_confirm": MERCHANT_PASSWORD,
            },
            timeout=30,
        )
        if not answer.url.endswith("/profile"):
            raise Failed(f"setting the password did not lead to /profile ({answer.status_code} {answer.url})")
        self.step("the welcome link set the password and logged the merchant in")

        stores = wait_until(
            lambda: re.findall(r"/catalog/stores/([\w-]+)/toggle", browser.get(f"{base}/catalog/stores").text),
            90,
            "the catalog refresh queued by /user/token never filled the stores page",
        )
        page = browser.get(f"{base}/connections", timeout=30)
        saved = browser.post(
            f"{base}/connections/vk",
            data={"csrf_token": csrf(page.text), "token": "demo-vk-token", "group_id": "100001"},
            timeout=60,
        )
        if saved.status_code != 200 or "connections" not in saved.url:
            raise Failed(f"connecting VK answered {saved.status_code}")
        page = browser.get(f"{base}/catalog/stores", timeout=30)
        browser.post(
            f"{base}/catalog/stores/{stores[0]}/toggle",
            data={"csrf_token": csrf(page.text), "enabled": "1"},
            timeout=30,
        )
        page = browser.get(f"{base}/sync", timeout=30)
        browser.post(f"{base}/sync/run", data={"csrf_token": csrf(page.text)}, timeout=30)

        def finished():
            last = browser.get(f"{base}/api/sync/status", timeout=10).json().get("last_finished")
            return last if last and last.get("status") not in ("queued", "running") else None

        run = wait_until(finished, 240, f"the sync never finished:\n{tail(worker_log)}")
        if run.get("status") != "succeeded":
            raise Failed(f"the first sync ended {run.get('status')}: {run}")
        sandbox_url = self.services["web"].env["VK_API_URL"].rsplit("/vk/", 1)[0]
        items = requests.get(f"{sandbox_url}/_sandbox/vk/items", params={"group_id": 100001}, timeout=10).json()
        self.step(
            f"VK connected, a store switched on, the first sync ran on the worker: {run.get('status')}, "
            f"{len(items)} items in the emulated VK market"
        )

    def check_scheduler_ticks(self) -> None:
        stats = requests.get(f"http://127.0.0.1:{self.services['web'].port}/health", timeout=10).json()
        tick = (stats.get("scheduler") or {}).get("seconds_ago")
        if tick is None or tick > 60:
            raise Failed(f"the scheduler has not ticked recently: {stats.get('scheduler')}")
        self.step(f"the scheduler ticks (last {tick} s ago); live workers: {stats.get('workers')}")

    def stop(self) -> None:
        for service in self.services.values():
            if service.proc and service.proc.poll() is None:
                service.proc.terminate()
        for service in self.services.values():
            if service.proc:
                try:
                    service.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(service.proc.pid, signal.SIGKILL)
                with_group_gone(service.proc.pid)
        if self.sandbox and self.sandbox.poll() is None:
            self.sandbox.terminate()
            self.sandbox.wait(timeout=10)

    def run(self) -> None:
        compose = self.validate_compose()
        self.build_image()
        sandbox_url = self.start_sandbox()
        dotenv = self.write_env(sandbox_url, 8080)
        self.create_database(dotenv)
        home = Path(pwd.getpwnam(self.image.user).pw_dir)
        shutil.rmtree(home / "instance", ignore_errors=True)  # a fresh container: nothing from an earlier run
        (home / "instance").mkdir(exist_ok=True)
        shutil.chown(home / "instance", self.image.user, self.image.user)
        self.run_services(compose, dotenv)
        self.check_health()
        self.create_admin()
        self.check_dashboard(dotenv)
        self.merchant_story(dotenv)
        self.check_scheduler_ticks()
        if self.problems:
            raise Failed("; ".join(self.problems))


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    if not match:
        raise Failed("no CSRF token on the page")
    return match.group(1)


def wait_until(probe, seconds: float, message: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = probe()
        except (requests.RequestException, ValueError):
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise Failed(message)


def with_group_gone(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", default=str(HERE.parent), help="the checkout to rehearse (default: this one)")
    parser.add_argument("--mariadb-socket", required=True, help="MariaDB's socket, for root (creates the database)")
    parser.add_argument("--mariadb-port", type=int, required=True, help="MariaDB's TCP port on 127.0.0.1")
    parser.add_argument("--redis-url", required=True, help="the Redis the services use instead of redis:6379/0")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, .env) afterwards")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        say("must run as root: it creates the image's user and runs the services as that user")
        return 2
    rehearsal = Rehearsal(args)
    started = time.monotonic()
    try:
        rehearsal.run()
    except (Failed, subprocess.CalledProcessError, OSError) as exc:
        say(f"FAILED: {exc}")
        for service in rehearsal.services.values():
            say(f"--- {service.name} log (last lines)\n{tail(service.log_path, 15)}")
        return 1
    finally:
        rehearsal.stop()
        if args.keep:
            say(f"work folder kept: {rehearsal.work}")
        else:
            shutil.rmtree(rehearsal.work, ignore_errors=True)
    say(f"passed: {len(rehearsal.steps)} steps in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
