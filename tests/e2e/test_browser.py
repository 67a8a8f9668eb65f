"""The site in a real Chromium, against uvicorn and a real worker: what a person sees."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests import images
from tests.conftest import PASSWORD
from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

PHOTO_URL = re.compile(r"^/media/avatars/\d+/[0-9a-f-]{36}/512\.webp$")
JOB_TIMEOUT = 60_000


def sign_up(page: Page, base_url: str, username: str) -> None:
    """Create an account with the keyboard only: labels, tab order, Enter submits."""
    page.goto(f"{base_url}/accounts/signup/")
    page.get_by_label("Username").focus()
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password", exact=True)).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password confirmation")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{base_url}/settings/")


def upload(page: Page, name: str, data: bytes, mime: str = "image/jpeg") -> None:
    page.get_by_label("New photo").set_input_files({"name": name, "mimeType": mime, "buffer": data})
    page.get_by_role("button", name="Upload photo").click()


def mark_page(page: Page) -> None:
    """Leave a marker that only survives while no navigation happens."""
    page.evaluate("window.__sameDocument = true")


def same_document(page: Page) -> bool:
    return bool(page.evaluate("window.__sameDocument === true"))


@pytest.mark.worker
def test_photo_progress_and_failure_show_live_without_a_reload(web, start_worker, page):
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    sign_up(page, web.url, "dana")
    status = page.locator("#photo-status")
    expect(page.locator("#photo-img")).to_have_text("No photo yet")

    upload(page, "IMG_0001.jpg", images.jpeg(1600, 1200, gps=True))
    expect(status).to_have_text("Your new photo is queued.")
    mark_page(page)
    expect(page.locator("#photo-status")).to_have_attribute("data-transport", "events")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-photo-queued.png"))
    worker = start_worker()

    photo = page.locator("img#photo-img")
    expect(photo).to_have_attribute("src", PHOTO_URL, timeout=JOB_TIMEOUT)
    expect(status).to_have_text("Your new photo is ready.")
    assert same_document(page)
    expect(photo).to_have_js_property("naturalWidth", 512)
    assert f"{web.url}/live/photo-events/" in requested
    assert not [url for url in requested if "/settings/photo/status/" in url]
    page.screenshot(path=str(ARTIFACTS / "e2e-photo-done.png"), full_page=True)

    # Passes the web's checks, fails in the worker: the reason appears live
    # and the photo already shown stays.
    first_photo = photo.get_attribute("src")
    worker.stop()
    upload(page, "broken.png", images.png_undecodable(), "image/png")
    expect(status).to_have_text("Your new photo is queued.")
    mark_page(page)
    start_worker()
    expect(status.locator(".error")).to_have_text(
        "Your last photo could not be used: The image could not be decoded: "
        "the file may be damaged.",
        timeout=JOB_TIMEOUT,
    )
    assert same_document(page)
    expect(photo).to_have_attribute("src", first_photo or "")
    page.screenshot(path=str(ARTIFACTS / "e2e-photo-failed.png"), full_page=True)


@pytest.mark.worker
def test_photo_progress_falls_back_to_polling_when_the_stream_keeps_failing(
    web, start_worker, page
):
    page.route("**/live/photo-events/", lambda route: route.abort())
    sign_up(page, web.url, "erin")
    upload(page, "me.jpg", images.jpeg())
    status = page.locator("#photo-status")
    # Three failed attempts, about 3 s apart (the browser's own retry delay).
    expect(status).to_have_attribute("data-transport", "polling", timeout=20_000)
    mark_page(page)
    start_worker()
    expect(page.locator("img#photo-img")).to_have_attribute("src", PHOTO_URL, timeout=JOB_TIMEOUT)
    expect(status).to_have_text("Your new photo is ready.")
    assert same_document(page)


def test_a_text_file_named_jpg_is_refused_next_to_the_field(web, page):
    sign_up(page, web.url, "frank")
    upload(page, "holiday.jpg", b"Dear diary, today I renamed a text file.\n")
    field = page.locator(".field").filter(has=page.get_by_label("New photo"))
    expect(field.get_by_role("alert")).to_have_text(
        "This file is not a JPEG, PNG, WebP or GIF image."
    )
    expect(page.locator("#photo-img")).to_have_text("No photo yet")


def test_the_contact_form_shows_errors_next_to_fields_then_its_confirmation(web, page):
    page.goto(f"{web.url}/contact/")
    page.get_by_label("Your name").fill("Grace Hopper")
    page.get_by_label("Your email address").fill("grace-at-example")
    page.get_by_label("Message", exact=True).fill("The form works from a real browser.")
    page.get_by_role("button", name="Send message").click()

    email = page.locator(".field").filter(has=page.get_by_label("Your email address"))
    expect(email.get_by_role("alert")).to_contain_text("valid email")
    expect(page.get_by_label("Message", exact=True)).to_have_value(
        "The form works from a real browser."
    )
    page.get_by_label("Your email address").fill("grace@example.com")
    page.get_by_label("Your email address").press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Your message has been received")
