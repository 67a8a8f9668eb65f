"""Serve locally stored photos (PHOTO_STORAGE=local: dev and single-machine demos)."""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse
from django.views.static import serve


def local_photo(request: HttpRequest, path: str) -> HttpResponse | FileResponse:
    # MEDIA_ROOT is read per request, not captured when the URLconf loads.
    return serve(request, path, document_root=str(settings.MEDIA_ROOT))
