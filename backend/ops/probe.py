"""Container health check for the web process: ``python -m backend.ops.probe URL``.

Exits 0 when URL answers 200. The request carries a Host header that
ALLOWED_HOSTS accepts (Django answers 400 to any other), taken from the same
environment variable, so the check works whatever host the site is served on.
Standard library only: it starts fast and needs no settings or database.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 5.0


def allowed_host() -> str:
    """A concrete host name matching the first ALLOWED_HOSTS entry."""
    first = os.environ.get("ALLOWED_HOSTS", "").split(",")[0].strip()
    if first in ("", "*"):
        return "localhost"
    # ".example.org" allows example.org and its subdomains.
    return first.lstrip(".")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m backend.ops.probe http://127.0.0.1:8000/healthz", file=sys.stderr)
        return 2
    url = argv[0]
    if not url.startswith(("http://", "https://")):
        print(f"not an http(s) URL: {url}", file=sys.stderr)
        return 2
    request = urllib.request.Request(url, headers={"Host": allowed_host()})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"{url}: HTTP {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
