"""Tests of the Cloudflare Images client against the fake API over real HTTP on loopback.

No Django here: the client and the fake are plain Python, so these run in milliseconds.
"""

from __future__ import annotations

import email.utils
import io
import pickle
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from PIL import Image

from backend.media.cloudflare import (
    CloudflareAlreadyExists,
    CloudflareAuthError,
    CloudflareBadRequest,
    CloudflareConnectionError,
    CloudflareError,
    CloudflareImagesClient,
    CloudflareNotFound,
    CloudflareRateLimited,
    CloudflareServerError,
    CloudflareTimeout,
    delivery_url,
)
from backend.media.fake_cloudflare import FakeCloudflareImages

TOKEN = "test-token"
ACCOUNT = "acct-123"
ACCOUNT_HASH = "hash-abc"


def image_bytes(width: int = 8, height: int = 8, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format=image_format)
    return buffer.getvalue()


@pytest.fixture
def fake() -> Iterator[FakeCloudflareImages]:
    with FakeCloudflareImages(
        token=TOKEN, account_id=ACCOUNT, account_hash=ACCOUNT_HASH, latency=0.0
    ) as server:
        yield server


def make_client(
    fake: FakeCloudflareImages,
    *,
    token: str = TOKEN,
    account_id: str = ACCOUNT,
    read_timeout: float = 5.0,
) -> CloudflareImagesClient:
    return CloudflareImagesClient(
        account_id=account_id,
        token=token,
        api_base=fake.api_base,
        connect_timeout=2.0,
        read_timeout=read_timeout,
    )


@pytest.fixture
def client(fake: FakeCloudflareImages) -> Iterator[CloudflareImagesClient]:
    cloudflare = make_client(fake)
    yield cloudflare
    cloudflare.close()


def test_upload_details_delete_then_not_found(client, fake):
    """An uploaded image can be read back and deleted; afterwards it is gone."""
    uploaded = client.upload(data=image_bytes(), filename="avatar.png", metadata={"profile": "42"})

    assert str(uuid.UUID(uploaded.id)) == uploaded.id
    assert uploaded.filename == "avatar.png"
    assert uploaded.metadata == {"profile": "42"}
    assert uploaded.variants == (
        f"https://imagedelivery.net/{ACCOUNT_HASH}/{uploaded.id}/public",
        f"https://imagedelivery.net/{ACCOUNT_HASH}/{uploaded.id}/thumbnail",
    )
    assert not uploaded.draft
    assert client.details(uploaded.id) == uploaded

    client.delete(uploaded.id)

    with pytest.raises(CloudflareNotFound) as caught:
        client.details(uploaded.id)
    assert caught.value.status == 404
    assert caught.value.codes == [5404]
    assert not caught.value.transient
    assert fake.images == {}


def test_custom_id_with_slashes_round_trips(client, fake):
    """A custom id containing "/" is sent URL-encoded and survives details and delete."""
    custom_id = "profiles/42/avatar-1.png"

    uploaded = client.upload(data=image_bytes(), filename="a.png", image_id=custom_id)

    assert uploaded.id == custom_id
    assert client.details(custom_id).id == custom_id
    client.delete(custom_id)
    assert custom_id not in fake.images
    assert ("GET", f"/client/v4/accounts/{ACCOUNT}/images/v1/profiles%2F42%2Favatar-1.png") in (
        fake.requests
    )


def test_second_upload_to_same_custom_id_is_refused(client, fake):
    client.upload(data=image_bytes(), filename="first.png", image_id="avatars/7")

    with pytest.raises(CloudflareAlreadyExists) as caught:
        client.upload(data=image_bytes(), filename="second.png", image_id="avatars/7")

    assert caught.value.codes == [5409]
    assert not caught.value.transient
    assert fake.images["avatars/7"].filename == "first.png"


@pytest.mark.parametrize(
    "bad_id",
    [str(uuid.uuid4()), "/leading-slash", "trailing-slash/", "x" * 1025],
    ids=["uuid", "leading-slash", "trailing-slash", "too-long"],
)
def test_invalid_custom_ids_are_rejected(client, fake, bad_id):
    with pytest.raises(CloudflareBadRequest) as caught:
        client.upload(data=image_bytes(), filename="a.png", image_id=bad_id)
    assert caught.value.codes == [5400]
    assert fake.images == {}


def test_iter_images_follows_continuation_tokens(client, fake):
    """Every image comes back exactly once across several pages."""
    uploaded = {client.upload(data=image_bytes(), filename=f"{n}.png").id for n in range(23)}

    listed = [image.id for image in client.iter_images(per_page=10)]

    assert sorted(listed) == sorted(uploaded)
    list_calls = [path for method, path in fake.requests if "/images/v2" in path]
    assert len(list_calls) == 3
    assert "continuation_token=" not in list_calls[0]
    assert all("continuation_token=" in path for path in list_calls[1:])


def test_iter_images_on_empty_account_yields_nothing(client):
    assert list(client.iter_images()) == []


def test_wrong_token_raises_auth_error_naming_the_token(fake):
    cloudflare = make_client(fake, token="not-the-token")

    with pytest.raises(CloudflareAuthError) as caught:
        cloudflare.upload(data=image_bytes(), filename="a.png")

    assert caught.value.status == 401
    assert caught.value.codes == [10000]
    assert not caught.value.transient
    assert "token" in str(caught.value)
    assert "10000" in str(caught.value)


def test_wrong_account_raises_auth_error(fake):
    cloudflare = make_client(fake, account_id="someone-else")

    with pytest.raises(CloudflareAuthError) as caught:
        cloudflare.details("anything")

    assert caught.value.status == 403
    assert "account" in str(caught.value)


def test_rate_limit_carries_retry_after_and_is_not_retried(client, fake):
    fake.inject("rate_limit", retry_after=2)

    with pytest.raises(CloudflareRateLimited) as caught:
        client.upload(data=image_bytes(), filename="a.png")

    assert caught.value.retry_after == 2
    assert caught.value.transient
    assert caught.value.status == 429
    assert caught.value.codes == [971]
    assert len(fake.requests) == 1
    # The fault applied once: the next upload goes through.
    assert client.upload(data=image_bytes(), filename="a.png").filename == "a.png"


def test_rate_limit_retry_after_as_http_date(client, fake):
    when = datetime.now(UTC) + timedelta(seconds=30)
    fake.inject("rate_limit", retry_after=email.utils.format_datetime(when, usegmt=True))

    with pytest.raises(CloudflareRateLimited) as caught:
        client.upload(data=image_bytes(), filename="a.png")

    assert 25 <= caught.value.retry_after <= 31


def test_server_error_with_html_body_is_transient(client, fake):
    fake.inject("server_error")

    with pytest.raises(CloudflareServerError) as caught:
        client.upload(data=image_bytes(), filename="a.png")

    assert caught.value.transient
    assert caught.value.status == 500
    assert caught.value.errors == []


def test_dropped_connection_after_store_leaves_the_image_stored(client, fake):
    """The caller sees a transient error, yet the upload happened: ids must be idempotent."""
    fake.inject("drop_after_store")

    with pytest.raises(CloudflareConnectionError) as caught:
        client.upload(data=image_bytes(), filename="dropped.png", image_id="avatars/9")

    assert caught.value.transient
    assert fake.images["avatars/9"].filename == "dropped.png"


def test_hanging_server_raises_timeout_quickly(fake):
    cloudflare = make_client(fake, read_timeout=0.5)
    fake.inject("hang", seconds=30)
    started = time.monotonic()

    with pytest.raises(CloudflareTimeout) as caught:
        cloudflare.upload(data=image_bytes(), filename="a.png")

    assert time.monotonic() - started < 3
    assert caught.value.transient


def test_unreachable_server_raises_connection_error(fake):
    cloudflare = make_client(fake)
    fake.stop()

    with pytest.raises(CloudflareConnectionError):
        cloudflare.details("anything")


@pytest.mark.parametrize(
    ("data", "filename"),
    [(image_bytes(image_format="TIFF"), "scan.tiff"), (b"just some text\n", "notes.txt")],
    ids=["tiff", "text"],
)
def test_unsupported_formats_are_bad_requests(client, fake, data, filename):
    with pytest.raises(CloudflareBadRequest) as caught:
        client.upload(data=data, filename=filename)

    assert caught.value.codes == [5455]
    assert not caught.value.transient
    assert fake.images == {}


def test_svg_is_accepted(client):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>'
    assert client.upload(data=svg, filename="logo.svg").filename == "logo.svg"


def test_image_wider_than_12000_px_is_rejected(client, fake):
    with pytest.raises(CloudflareBadRequest) as caught:
        client.upload(data=image_bytes(13_000, 10), filename="wide.png")

    assert caught.value.codes == [5400]
    assert fake.images == {}


def test_metadata_over_1024_bytes_is_rejected(client, fake):
    with pytest.raises(CloudflareBadRequest) as caught:
        client.upload(data=image_bytes(), filename="a.png", metadata={"note": "x" * 1100})

    assert caught.value.codes == [5400]
    assert fake.images == {}


def test_upload_from_url(client, fake, image_server):
    uploaded = client.upload_url(url=f"{image_server}/photos/cat.jpg", metadata={"a": "b"})

    assert uploaded.filename == "cat.jpg"
    assert fake.images[uploaded.id].metadata == {"a": "b"}


def test_delivery_url_is_built_without_any_request(fake):
    before = fake.requests

    url = delivery_url(account_hash=ACCOUNT_HASH, image_id="profiles/42/a b%.png", variant="public")

    assert url == f"https://imagedelivery.net/{ACCOUNT_HASH}/profiles/42/a%20b%25.png/public"
    assert fake.requests == before


def test_delivery_url_keeps_flexible_variants_readable():
    url = delivery_url(
        account_hash="h", image_id="id", variant="w=400,sharpen=3", base="https://cdn.example/"
    )
    assert url == "https://cdn.example/h/id/w=400,sharpen=3"


def test_http_control_endpoints_drive_faults_and_state(client, fake):
    """Another process can inject faults, read state and reset over HTTP."""
    answer = requests.post(
        f"{fake.url}/__fake__/faults",
        json={
            "fault": "error",
            "status": 403,
            "code": 5403,
            "message": "Not allowed",
            "method": "GET",
            "path_contains": "/images/v1/",
            "times": 2,
        },
        timeout=5,
    )
    assert answer.status_code == 200
    assert answer.json()["faults"][0]["kind"] == "error"

    for _ in range(2):
        with pytest.raises(CloudflareAuthError):
            client.details("x")
    stored = client.upload(data=image_bytes(), filename="a.png")

    state = requests.get(f"{fake.url}/__fake__/state", timeout=5).json()
    assert state["images"] == [stored.id]
    assert [method for method, _ in state["requests"]] == ["GET", "GET", "POST"]
    assert state["faults"] == []

    assert requests.post(f"{fake.url}/__fake__/reset", timeout=5).json() == {"ok": True}
    assert requests.get(f"{fake.url}/__fake__/state", timeout=5).json() == {
        "images": [],
        "requests": [],
        "faults": [],
    }


def test_http_control_rejects_unknown_faults(fake):
    answer = requests.post(f"{fake.url}/__fake__/faults", json={"fault": "gremlins"}, timeout=5)
    assert answer.status_code == 400
    assert "gremlins" in answer.json()["error"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<html>maintenance</html>", "not its JSON envelope"),
        (b'{"success": false, "errors": [{"code": 1234, "message": "odd"}]}', "rejected"),
    ],
    ids=["html", "success-false"],
)
def test_2xx_without_a_successful_envelope_is_a_permanent_error(body, expected):
    cloudflare = CloudflareImagesClient(
        account_id=ACCOUNT, token=TOKEN, session=_CannedSession(200, body)
    )

    with pytest.raises(CloudflareError) as caught:
        cloudflare.details("x")

    assert type(caught.value) is CloudflareError
    assert not caught.value.transient
    assert expected in str(caught.value)


# -- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def image_server() -> Iterator[str]:
    """Serve one JPEG at every path of a throwaway loopback server; yield its base URL."""
    data = image_bytes(image_format="JPEG")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


class _CannedSession(requests.Session):
    """Answer every request with one fixed response, for bodies the fake never sends."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__()
        self._status, self._body = status, body

    def request(self, method, url, *args, **kwargs):
        response = requests.Response()
        response.status_code = self._status
        response._content = self._body
        response.url = url
        return response


def test_errors_survive_pickling():
    """Task queues and result backends may pickle exceptions; nothing must be lost."""
    error = CloudflareRateLimited(
        "slow down", retry_after=2, status=429, errors=[{"code": 971, "message": "wait"}]
    )

    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes

    assert type(copy) is CloudflareRateLimited
    assert (copy.retry_after, copy.status, copy.errors) == (2, 429, error.errors)
    assert str(copy) == str(error)
