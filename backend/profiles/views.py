"""The settings dashboard: profile text and photo, for the signed-in user only."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from backend.profiles import services
from backend.profiles.forms import PhotoForm, ProfileForm


def _dashboard(
    request: HttpRequest,
    *,
    profile_form: ProfileForm | None = None,
    photo_form: PhotoForm | None = None,
    status: int = 200,
) -> HttpResponse:
    profile = services.profile_get(user=request.user)  # type: ignore[arg-type]
    context: dict[str, Any] = {
        "profile": profile,
        "profile_form": profile_form or ProfileForm(instance=profile),
        "photo_form": photo_form or PhotoForm(),
        "photo_urls": services.photo_urls(profile=profile),
        "job": services.photo_job_latest(user=request.user),  # type: ignore[arg-type]
    }
    return render(request, "profiles/settings.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def settings_view(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _dashboard(request)
    form = ProfileForm(request.POST)
    if not form.is_valid():
        return _dashboard(request, profile_form=form, status=400)
    services.profile_update(
        user=request.user,  # type: ignore[arg-type]
        display_name=form.cleaned_data["display_name"],
        bio=form.cleaned_data["bio"],
    )
    messages.success(request, "Your profile was saved.")
    return redirect("settings")


@login_required
@require_POST
def photo_upload(request: HttpRequest) -> HttpResponse:
    form = PhotoForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.photo_job_create(user=request.user, upload=form.cleaned_data["photo"])  # type: ignore[arg-type]
        except services.PhotoRejected as exc:
            form.add_error("photo", str(exc))
    if not form.is_valid():
        return _dashboard(request, photo_form=form, status=400)
    # No flash message: the status line under the photo says "queued" and
    # then follows the job, so a message would go stale.
    return redirect("settings")


@login_required
@require_GET
def photo_status(request: HttpRequest) -> JsonResponse:
    """The signed-in user's latest photo job, for pages that poll instead of streaming."""
    job = services.photo_job_latest(user=request.user)  # type: ignore[arg-type]
    profile = services.profile_get(user=request.user)  # type: ignore[arg-type]
    urls = services.photo_urls(profile=profile)
    return JsonResponse(
        {
            "job": None
            if job is None
            else {"id": str(job.id), "state": job.state, "error": job.error},
            "photo_url": urls[0] if urls else None,
        }
    )
