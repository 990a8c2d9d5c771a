"""Run the sandbox in the foreground: ``python -m evosync.sandbox --port 8100 [--demo]``."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys

from evosync.sandbox import Sandbox

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
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    sandbox = Sandbox(seed=args.seed, host=args.host, port=args.port)
    if args.demo:
        summary = sandbox.seed_demo()
        log.info("demo merchant: %s", json.dumps(summary, ensure_ascii=False))
    sandbox.start()
    log.info(
        "sandbox ready: EVOTOR_API_URL=%s VK_API_URL=%s VK_ID_URL=%s",
        sandbox.evotor_url,
        sandbox.vk_url,
        sandbox.vkid_url,
    )
    signal.signal(signal.SIGTERM, _interrupt)  # terminate() stops as cleanly as Ctrl-C
    with contextlib.suppress(KeyboardInterrupt):
        sandbox.serve_forever()
    log.info("sandbox stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
