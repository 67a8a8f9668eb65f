"""The public contact form: record the message, answer at once; a worker emails it."""

from __future__ import annotations

import ipaddress
import logging

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from backend.contact import services
from backend.contact.forms import ContactForm, HoneypotForm

logger = logging.getLogger(__name__)


def _page(request: HttpRequest, form: ContactForm, *, status: int = 200) -> HttpResponse:
    context = {"form": form, "trap": HoneypotForm()}
    return render(request, "contact/form.html", context, status=status)


@require_http_methods(["GET", "POST"])
def contact_form(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request, ContactForm(initial=_initial(request)))
    if HoneypotForm(request.POST).is_filled():
        # Answered like a real message, so the bot learns nothing; nothing is kept.
        logger.info("contact form honeypot filled; message dropped")
        return redirect("contact_thanks")
    form = ContactForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    try:
        services.contact_message_submit(
            name=form.cleaned_data["name"],
            email=form.cleaned_data["email"],
            category=form.cleaned_data["category"],
            body=form.cleaned_data["message"],
            ip=_client_ip(request),
            user=request.user if request.user.is_authenticated else None,
        )
    except services.ContactRateLimited as exc:
        form.add_error(None, str(exc))
        return _page(request, form, status=429)
    return redirect("contact_thanks")


@require_GET
def contact_thanks(request: HttpRequest) -> HttpResponse:
    return render(request, "contact/thanks.html")


def _initial(request: HttpRequest) -> dict[str, str]:
    user = request.user
    if not user.is_authenticated:
        return {}
    return {"name": user.get_full_name() or user.get_username(), "email": user.email}


def _client_ip(request: HttpRequest) -> str | None:
    # The ASGI server's idea of the client; behind a proxy, run uvicorn with
    # --proxy-headers and --forwarded-allow-ips so this is the real client.
    raw = request.META.get("REMOTE_ADDR") or ""
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return None
