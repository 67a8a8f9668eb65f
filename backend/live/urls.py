from __future__ import annotations

from django.urls import path

from backend.live import views

urlpatterns = [
    path("photo-events/", views.photo_events, name="live_photo_events"),
    path("stats/", views.stats, name="live_stats"),
]
