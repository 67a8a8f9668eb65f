"""Settings for the uvicorn that the live and browser tests start: short timers, a name."""

from __future__ import annotations

from backend.settings import *  # noqa: F403
from backend.settings import DATABASES

LIVE_HEARTBEAT_SECONDS = 0.5
LIVE_LISTENER_IDLE_SECONDS = 1.0
# So the tests can count this web process's own connections in pg_stat_activity.
_options: dict[str, object] = DATABASES["default"]["OPTIONS"]  # type: ignore[assignment]
_options["application_name"] = "lagless-test-web"
