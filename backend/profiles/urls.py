from __future__ import annotations

from django.urls import path

from backend.profiles import views

urlpatterns = [
    path("", views.settings_view, name="settings"),
    path("photo/", views.photo_upload, name="photo_upload"),
    path("photo/status/", views.photo_status, name="photo_status"),
]
