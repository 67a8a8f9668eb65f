"""The project's fake Cloudflare Images server with a deeper listen backlog, for load runs.

socketserver listens with a backlog of 5; a hundred uploads connecting at once would
then wait for SYN retries (a second each), which is the fake's limit, not the app's.
Usage is that of ``python -m backend.media.fake_cloudflare``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend.media import fake_cloudflare


def main() -> None:
    fake_cloudflare._Server.request_queue_size = 1024
    fake_cloudflare.main()


if __name__ == "__main__":
    main()
