# pyright: strict
"""``python -m valet.sites [--host H] [--port N]``: serve the demo sites in the foreground."""

from __future__ import annotations

import argparse
import contextlib

from .server import serve_forever


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m valet.sites", description="Serve valet's local demo sites."
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=8765, help="port (default: 8765; 0 = any free port)"
    )
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        serve_forever(host=str(args.host), port=int(args.port))


if __name__ == "__main__":
    main()
