"""Settings for the seed's approach in bench/upload_load.py: the app's settings, plus one URL.

Only the URLconf changes, so the comparison runs the same middleware, database and
storage configuration as the real server.
"""

from __future__ import annotations

from backend.settings import *  # noqa: F403

ROOT_URLCONF = "bench.seed_urls"
