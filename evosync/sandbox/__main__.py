"""Run the sandbox in the foreground: ``python -m evosync.sandbox --port 8100 [--demo]``."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys

from evosync.sandbox import Sandbox, readings

log = logging.getLogger("evosync.sandbox")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evosync.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8100, help="port (0 picks a free one; default 8100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the emulators' randomness")
    parser.add_argument("--demo", action="store_true", help="create the demo merchant at start")
    parser.add_argument("--quiet", action="store_true", help="do not log every request")
    parser.add_argument(
        "--readings",
        default=os.environ.get("SANDBOX_READINGS", ""),
        help="open VK/Evotor behaviours to follow, e.g. hidden_availability=1,deleted_returned=1 "
        "(default: $SANDBOX_READINGS; see docs/VK_READINGS.md)",
    )
    args = parser.parse_args(argv)
    try:
        chosen = readings.parse(args.readings)
    except ValueError as exc:
        parser.error(str(exc))

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    sandbox = Sandbox(seed=args.seed, host=args.host, port=args.port)
    sandbox.set_readings(chosen)
    if args.demo:
        summary = sandbox.seed_demo()
        log.info("demo merchant: %s", json.dumps(summary, ensure_ascii=False))
    sandbox.start()
    log.info(
        "sandbox ready: EVOTOR_API_URL=%s VK_API_URL=%s VK_ID_URL=%s readings=%s",
        sandbox.evotor_url,
        sandbox.vk_url,
        sandbox.vkid_url,
        chosen.label(),
    )
    signal.signal(signal.SIGTERM, _interrupt)  # terminate() stops as cleanly as Ctrl-C
    with contextlib.suppress(KeyboardInterrupt):
        sandbox.serve_forever()
    log.info("sandbox stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
