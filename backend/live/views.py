"""Live endpoints: the photo-progress stream and the listener's counters for staff."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponseForbidden, JsonResponse
from django.http.response import HttpResponseBase, StreamingHttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from backend.live.listener import photo_job_listener
from backend.live.streams import photo_stream

HEARTBEAT_SECONDS = 15.0


@require_GET
async def photo_events(request: HttpRequest) -> HttpResponseBase:
    """Stream the signed-in user's own photo-job states as server-sent events."""
    user = await request.auser()
    if not user.is_authenticated:
        # A 403, not a redirect to the login page: EventSource then stops retrying.
        return HttpResponseForbidden("Sign in to follow your photo's progress.")
    heartbeat = float(getattr(settings, "LIVE_HEARTBEAT_SECONDS", HEARTBEAT_SECONDS))
    response = StreamingHttpResponse(
        photo_stream(user, listener=photo_job_listener(), heartbeat=heartbeat),
        content_type="text/event-stream",
    )
    response["Cache-Control"] = "no-cache"
    # Tells nginx-style proxies to pass every event on at once.
    response["X-Accel-Buffering"] = "no"
    return response


@never_cache
@require_GET
async def stats(request: HttpRequest) -> HttpResponseBase:
    """This process's listener counters (subscribers, connections), for staff only."""
    user = await request.auser()
    if not (user.is_active and user.is_staff):
        return HttpResponseForbidden()
    return JsonResponse(photo_job_listener().stats())
