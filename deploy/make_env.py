#!/usr/bin/env python3
"""Write a .env for docker compose: .env.example with every secret filled by a fresh random value.

    python3 deploy/make_env.py            # writes .env next to docker-compose.yml (refuses to overwrite)
    python3 deploy/make_env.py -o -       # print it instead

Standard library only, so it runs on the docker host without the project's virtualenv. Everything else
in .env.example is kept as it is; edit BASE_URL (and the vendor settings) afterwards.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _fernet_key() -> str:
    # The format of cryptography's Fernet.generate_key(): 32 random bytes, url-safe base64.
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


GENERATORS = {
    "SECRET_KEY": lambda: secrets.token_urlsafe(48),
    "ENCRYPTION_KEY": _fernet_key,
    "EVOTOR_WEBHOOK_SECRET": lambda: secrets.token_urlsafe(32),
    "DB_PASSWORD": lambda: secrets.token_urlsafe(24),
    "DB_ROOT_PASSWORD": lambda: secrets.token_urlsafe(24),
    "RQ_DASHBOARD_PASSWORD": lambda: secrets.token_urlsafe(24),
}


def fill(example: str) -> str:
    """``example`` with each secret line (``NAME=`` or a placeholder value) given a generated value."""
    lines = []
    for line in example.splitlines():
        match = re.match(r"^([A-Z_]+)=(.*)$", line)
        if match and match.group(1) in GENERATORS:
            line = f"{match.group(1)}={GENERATORS[match.group(1)]()}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--example", default=str(ROOT / ".env.example"))
    parser.add_argument("-o", "--output", default=str(ROOT / ".env"), help="a file, or - for stdout")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    args = parser.parse_args(argv)
    text = fill(Path(args.example).read_text(encoding="utf-8"))
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    out = Path(args.output)
    if out.exists() and not args.force:
        sys.stderr.write(f"{out} exists: keep it (its secrets encrypt stored tokens) or pass --force\n")
        return 1
    out.touch(mode=0o600)
    out.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {out} with generated secrets ({', '.join(GENERATORS)})\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
