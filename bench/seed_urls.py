"""The app's URLs plus the seed's upload: render and store the photo inside the request.

Built only from the app's own imaging and storage APIs, the way the seed did it
before the queue existed; both sizes are stored concurrently, as the worker does,
so the request costs one storage round trip, not two.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.files.base import ContentFile
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.urls import path
from django.views.decorators.http import require_POST

from backend.media.storage import photo_storage, photo_storage_alias
from backend.profiles import imaging
from backend.profiles.forms import PhotoForm
from backend.profiles.models import Profile
from backend.urls import urlpatterns as app_urlpatterns


@login_required
@require_POST
def seed_photo_upload(request: HttpRequest) -> HttpResponse:
    form = PhotoForm(request.POST, request.FILES)
    if not form.is_valid():
        return HttpResponseBadRequest("no photo")
    data = form.cleaned_data["photo"].read(imaging.MAX_BYTES + 1)
    try:
        imaging.image_inspect(data)
        renders = imaging.photo_render(data)
    except imaging.InvalidImage as exc:
        return HttpResponseBadRequest(str(exc))
    storage, base = photo_storage(), f"avatars/{request.user.pk}/seed-{uuid.uuid4().hex}"

    def save(size: int) -> str:
        name = f"{base}/{size}.{imaging.OUTPUT_EXTENSION}"
        return storage.save(name, ContentFile(renders[size], name=name))

    with ThreadPoolExecutor(max_workers=len(renders)) as pool:
        photo, thumb = pool.map(save, imaging.SIZES)
    user_id = request.user.pk
    assert user_id is not None  # login_required
    Profile.objects.update_or_create(
        user_id=user_id,
        defaults={"photo_storage": photo_storage_alias(), "photo_name": photo,
                  "photo_thumb_name": thumb, "photo_job": None},
    )  # fmt: skip
    return redirect("settings")


urlpatterns: list[Any] = [
    path("seed/photo/", seed_photo_upload, name="seed_photo_upload"),
    *app_urlpatterns,
]
