from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from backend.media.views import local_photo
from backend.ops import views as ops_views

handler500 = "backend.ops.views.server_error"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="settings", permanent=False)),
    path("accounts/", include("backend.accounts.urls")),
    path("settings/", include("backend.profiles.urls")),
    path("contact/", include("backend.contact.urls")),
    path("live/", include("backend.live.urls")),
    path("healthz", ops_views.healthz, name="healthz"),
    path("metrics", ops_views.metrics, name="metrics"),
    path("admin/", admin.site.urls),
]

if settings.PHOTO_STORAGE == "local":
    # Local photo storage is for dev and single-machine demos; in production
    # photos are delivered by Cloudflare and this route does not exist.
    prefix = settings.MEDIA_URL.lstrip("/")
    urlpatterns.append(re_path(rf"^{prefix}(?P<path>avatars/.*)$", local_photo, name="local_photo"))
