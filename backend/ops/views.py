"""Operational endpoints: health for orchestrators, metrics, and the server-error page."""

from __future__ import annotations

import hmac
import logging
import sys

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from backend.ops.metrics import CONTENT_TYPE, metrics_render


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return JsonResponse({"status": "unavailable", "database": type(exc).__name__}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics for staff sessions and for the METRICS_TOKEN bearer."""
    staff = request.user.is_active and request.user.is_staff
    if not (staff or _has_metrics_token(request)):
        if request.user.is_authenticated:
            return HttpResponse("Staff only.\n", status=403, content_type="text/plain")
        response = HttpResponse("Authentication required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics_render(), content_type=CONTENT_TYPE)


def _has_metrics_token(request: HttpRequest) -> bool:
    token = str(settings.METRICS_TOKEN)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return (
        bool(token)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), token.encode())
    )


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a database outage is a 503 with Retry-After, anything else a plain 500.

    Django calls this inside its except block, whichever layer raised (view,
    session or auth middleware), so the exception is still in sys.exc_info().
    """
    exception = sys.exc_info()[1]
    if isinstance(exception, OperationalError | InterfaceError):
        logging.getLogger(__name__).error("database unavailable at %s: %s", request.path, exception)
        response = HttpResponse(render_to_string("503.html"), status=503)
        response["Retry-After"] = "5"
        return response
    return HttpResponse(render_to_string("500.html"), status=500)
