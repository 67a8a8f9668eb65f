from __future__ import annotations

from django.urls import path

from backend.contact import views

urlpatterns = [
    path("", views.contact_form, name="contact"),
    path("thanks/", views.contact_thanks, name="contact_thanks"),
]
