"""A fake Cloudflare Images API on loopback that speaks the contract in cloudflare-images-api.md.

Tests start it in-process; ``python -m backend.media.fake_cloudflare`` runs it standalone.
Faults (429, HTML 500, dropped connection, hang, any error) are injected from Python or over
HTTP through ``/__fake__/`` so tests in another process can drive a separately running fake.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import dataclasses
import io
import json
import logging
import random
import re
import signal
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import collapse_rfc2231_value
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from urllib.request import urlopen

from PIL import Image, UnidentifiedImageError

logger = logging.getLogger(__name__)

API_PREFIX = "/client/v4"
CONTROL_PREFIX = "/__fake__/"
# Stands in for imagedelivery.net in local demos: set CF_DELIVERY_BASE to
# http://<fake>/delivery and the browser gets the stored bytes back.
DELIVERY_PREFIX = "/delivery/"
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_SIDE = 12_000
MAX_AREA = 100_000_000
MAX_METADATA_BYTES = 1024
MAX_CUSTOM_ID = 1024
ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "GIF", "WEBP"})
FAULT_KINDS = frozenset({"rate_limit", "server_error", "drop_after_store", "hang", "error"})
Latency = float | tuple[float, float]

SERVER_ERROR_HTML = (
    b"<html><head><title>500 Internal Server Error</title></head><body>"
    b"<center><h1>500 Internal Server Error</h1></center><hr><center>cloudflare</center>"
    b"</body></html>"
)


class ApiError(Exception):
    """An answer in Cloudflare's error envelope."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _bad_request(message: str) -> ApiError:
    return ApiError(400, 5400, f"Bad request: {message}")


@dataclass(frozen=True)
class StoredImage:
    id: str
    filename: str
    data: bytes
    metadata: dict[str, Any]
    uploaded: str
    require_signed_urls: bool
    draft: bool
    seq: int


@dataclass
class Fault:
    kind: str
    times: int = 1
    method: str | None = "POST"
    path_contains: str = "/images/v1"
    retry_after: float | str = 300
    seconds: float = 60.0
    status: int = 400
    code: int = 5400
    message: str = "Bad request"

    def matches(self, method: str, path: str) -> bool:
        method_ok = self.method in (None, "", "*") or self.method == method
        return method_ok and self.path_contains in path


@dataclass(frozen=True)
class FormField:
    value: bytes
    filename: str | None

    @property
    def text(self) -> str:
        return self.value.decode("utf-8", errors="replace")


@dataclass
class ApiRequest:
    operation: str
    account_id: str
    image_id: str | None
    query: dict[str, str]
    body: bytes
    content_type: str
    form: dict[str, FormField] = field(default_factory=dict)


_ACCOUNT = r"^/client/v4/accounts/(?P<account>[^/]+)"
# Ids must arrive as a single URL-encoded segment: a raw "/" is a client bug worth catching.
_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("POST", re.compile(_ACCOUNT + r"/images/v1$"), "upload"),
    ("GET", re.compile(_ACCOUNT + r"/images/v1/(?P<id>[^/]+)$"), "details"),
    ("PATCH", re.compile(_ACCOUNT + r"/images/v1/(?P<id>[^/]+)$"), "update"),
    ("DELETE", re.compile(_ACCOUNT + r"/images/v1/(?P<id>[^/]+)$"), "delete"),
    ("GET", re.compile(_ACCOUNT + r"/images/v2$"), "list"),
    ("POST", re.compile(_ACCOUNT + r"/images/v2/direct_upload$"), "direct_upload"),
)


class FakeCloudflareImages:
    """In-memory Images API served over real HTTP; all state is guarded by one lock."""

    def __init__(
        self,
        *,
        token: str,
        account_id: str = "test-account",
        account_hash: str = "test-hash",
        host: str = "127.0.0.1",
        port: int = 0,
        latency: Latency = 0.0,
        latency_on: Iterable[str] = ("upload",),
    ) -> None:
        self.token, self.account_id, self.account_hash = token, account_id, account_hash
        self.host, self.port = host, port
        self.latency = latency
        self.latency_on = frozenset(latency_on)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._images: dict[str, StoredImage] = {}
        self._requests: list[tuple[str, str]] = []
        self._faults: list[Fault] = []
        self._seq = 0
        self._rng = random.Random()  # noqa: S311 - latency jitter, not a secret
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeCloudflareImages:
        self._stopping.clear()
        self._server = _Server((self.host, self.port), _Handler)
        self._server.fake = self
        self.port = self._server.server_address[1]
        # A short poll interval keeps stop() fast, which keeps per-test servers cheap.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-cloudflare",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        # Wake hanging handlers first so shutdown does not wait on them.
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeCloudflareImages:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.url}{API_PREFIX}"

    # -- state for tests -------------------------------------------------------------------

    @property
    def images(self) -> dict[str, StoredImage]:
        with self._lock:
            return dict(self._images)

    @property
    def requests(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        with self._lock:
            self._images.clear()
            self._requests.clear()
            self._faults.clear()

    def clear_faults(self) -> None:
        """End an injected outage: pending faults are dropped, stored images stay."""
        with self._lock:
            self._faults.clear()

    def inject(
        self,
        fault: str,
        *,
        times: int = 1,
        method: str | None = "POST",
        path_contains: str = "/images/v1",
        **options: Any,
    ) -> None:
        """Make the next ``times`` matching API requests fail as ``fault`` describes.

        ``options`` are the other ``Fault`` fields: ``retry_after`` (rate_limit), ``seconds``
        (hang; the request is then served normally, so a client that gave up may still have
        uploaded), ``status``/``code``/``message`` (error).
        """
        if fault not in FAULT_KINDS:
            raise ValueError(f"unknown fault {fault!r}; choose from {sorted(FAULT_KINDS)}")
        known = {f.name for f in dataclasses.fields(Fault)}
        unknown = set(options) - known
        if unknown:
            raise ValueError(f"unknown fault options: {sorted(unknown)}")
        new = Fault(kind=fault, times=times, method=method, path_contains=path_contains, **options)
        with self._lock:
            self._faults.append(new)

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "images": list(self._images),
                "requests": [list(entry) for entry in self._requests],
                "faults": [dataclasses.asdict(fault) for fault in self._faults],
            }

    # -- request plumbing used by the handler ----------------------------------------------

    def _record(self, method: str, path: str) -> Fault | None:
        """Log the request and take the first pending fault that matches it."""
        with self._lock:
            self._requests.append((method, path))
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless stop() is called; say whether the server is still running."""
        return not self._stopping.wait(max(0.0, seconds))

    def _delay(self, operation: str) -> bool:
        if operation not in self.latency_on:
            return True
        if isinstance(self.latency, tuple):
            return self._sleep(self._rng.uniform(*self.latency))
        return self._sleep(self.latency)

    def _authenticate(self, header: str | None, account_id: str) -> None:
        # Cloudflare's own answers: 9106 without credentials, 10000 for a bad token.
        if not header:
            raise ApiError(400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")
        if header != f"Bearer {self.token}":
            raise ApiError(401, 10000, "Authentication error")
        if account_id != self.account_id:
            raise ApiError(
                403,
                5403,
                "The given account is not valid or is not authorized to access this service",
            )

    def _handle(self, request: ApiRequest) -> Any:
        handlers: dict[str, Callable[[ApiRequest], Any]] = {
            "upload": self._upload,
            "details": self._details,
            "update": self._update,
            "delete": self._delete,
            "list": self._list,
            "direct_upload": self._direct_upload,
        }
        return handlers[request.operation](request)

    # -- operations ------------------------------------------------------------------------

    def _upload(self, request: ApiRequest) -> dict[str, Any]:
        form = _require_form(request)
        if ("file" in form) == ("url" in form):
            raise _bad_request("exactly one of 'file' or 'url' must be given")
        image_id, metadata, signed = _upload_options(form)
        if "file" in form:
            data, filename = form["file"].value, form["file"].filename or "file"
        else:
            data, filename = _fetch(form["url"].text)
        _check_image(data)
        return self._store(image_id, filename, data, metadata, signed, draft=False)

    def _direct_upload(self, request: ApiRequest) -> dict[str, Any]:
        form = _require_form(request) if request.body else {}
        image_id, metadata, signed = _upload_options(form)
        if "expiry" in form:
            _check_expiry(form["expiry"].text)
        stored = self._store(image_id, "", b"", metadata, signed, draft=True)
        upload_url = f"https://upload.imagedelivery.net/{self.account_hash}/{stored['id']}"
        return {"id": stored["id"], "uploadURL": upload_url}

    def _store(
        self,
        image_id: str | None,
        filename: str,
        data: bytes,
        metadata: dict[str, Any],
        signed: bool,
        *,
        draft: bool,
    ) -> dict[str, Any]:
        with self._lock:
            new_id = image_id or str(uuid.uuid4())
            if new_id in self._images:
                # The code Cloudflare sends for a taken custom id; the status is our guess.
                raise ApiError(
                    409,
                    5409,
                    "Resource already exists. Verify the resource information and try again.",
                )
            self._seq += 1
            image = StoredImage(
                id=new_id,
                filename=filename,
                data=data,
                metadata=metadata,
                uploaded=_now(),
                require_signed_urls=signed,
                draft=draft,
                seq=self._seq,
            )
            self._images[new_id] = image
        return self._render(image)

    def _details(self, request: ApiRequest) -> dict[str, Any]:
        with self._lock:
            image = self._get(request.image_id)
        return self._render(image)

    def _update(self, request: ApiRequest) -> dict[str, Any]:
        changes = _json_object(request.body)
        with self._lock:
            image = self._get(request.image_id)
            if "metadata" in changes:
                image = dataclasses.replace(image, metadata=_metadata(changes["metadata"]))
            if "requireSignedURLs" in changes:
                signed = changes["requireSignedURLs"]
                if not isinstance(signed, bool):
                    raise _bad_request("requireSignedURLs must be a boolean")
                _check_signed_with_custom_id(image.id, signed)
                image = dataclasses.replace(image, require_signed_urls=signed)
            self._images[image.id] = image
        return self._render(image)

    def _delete(self, request: ApiRequest) -> dict[str, Any]:
        with self._lock:
            image = self._get(request.image_id)
            del self._images[image.id]
        return {}

    def _list(self, request: ApiRequest) -> dict[str, Any]:
        per_page = _per_page(request.query.get("per_page", "1000"))
        sort_order = request.query.get("sort_order", "desc")
        if sort_order not in ("asc", "desc"):
            raise _bad_request("sort_order must be 'asc' or 'desc'")
        descending = sort_order == "desc"
        after = _decode_token(request.query.get("continuation_token"))
        with self._lock:
            # Drafts are pending direct uploads and do not appear in the list.
            ordered = sorted(
                (image for image in self._images.values() if not image.draft),
                key=lambda image: image.seq,
                reverse=descending,
            )
        if after is not None:
            ordered = [i for i in ordered if (i.seq < after if descending else i.seq > after)]
        page, rest = ordered[:per_page], ordered[per_page:]
        token = _encode_token(page[-1].seq) if page and rest else None
        return {"images": [self._render(i) for i in page], "continuation_token": token}

    def _get(self, image_id: str | None) -> StoredImage:
        image = self._images.get(image_id or "")
        if image is None:
            raise ApiError(404, 5404, "Image not found")
        return image

    def _render(self, image: StoredImage) -> dict[str, Any]:
        result: dict[str, Any] = {
            "id": image.id,
            "filename": image.filename,
            "metadata": image.metadata,
            "uploaded": image.uploaded,
            "requireSignedURLs": image.require_signed_urls,
            "variants": [
                f"https://imagedelivery.net/{self.account_hash}/{image.id}/{variant}"
                for variant in ("public", "thumbnail")
            ],
        }
        if image.draft:
            result["draft"] = True
        return result


# -- validation helpers ----------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _require_form(request: ApiRequest) -> dict[str, FormField]:
    if not request.content_type.lower().startswith("multipart/form-data"):
        raise ApiError(
            415,
            5415,
            "Images must be uploaded as a form, not as raw image data. "
            "Please use multipart/form-data format",
        )
    return request.form


def _upload_options(form: dict[str, FormField]) -> tuple[str | None, dict[str, Any], bool]:
    image_id = form["id"].text if "id" in form else None
    if image_id is not None:
        _check_custom_id(image_id)
    metadata = _metadata_field(form["metadata"].value) if "metadata" in form else {}
    signed = _bool_field(form["requireSignedURLs"].text) if "requireSignedURLs" in form else False
    if image_id is not None:
        _check_signed_with_custom_id(image_id, signed)
    return image_id, metadata, signed


def _check_custom_id(image_id: str) -> None:
    if not image_id or len(image_id) > MAX_CUSTOM_ID:
        raise _bad_request(f"custom id must be 1 to {MAX_CUSTOM_ID} characters long")
    if image_id.startswith("/") or image_id.endswith("/"):
        raise _bad_request("custom id must not start or end with '/'")
    if _is_uuid(image_id):
        raise _bad_request("custom id must not be a UUID")


def _check_signed_with_custom_id(image_id: str, signed: bool) -> None:
    if signed and not _is_uuid(image_id):
        raise _bad_request("images with a custom id cannot require signed URLs")


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _metadata_field(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_METADATA_BYTES:
        raise _bad_request(f"metadata must be at most {MAX_METADATA_BYTES} bytes")
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise _bad_request("metadata must be a JSON object") from exc
    return _metadata(value)


def _metadata(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad_request("metadata must be a JSON object")
    if len(json.dumps(value, separators=(",", ":")).encode()) > MAX_METADATA_BYTES:
        raise _bad_request(f"metadata must be at most {MAX_METADATA_BYTES} bytes")
    return value


def _bool_field(raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("true", "false"):
        raise _bad_request("requireSignedURLs must be 'true' or 'false'")
    return value == "true"


def _check_expiry(raw: str) -> None:
    try:
        expiry = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise _bad_request("expiry must be an RFC 3339 timestamp") from exc
    if expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=UTC)
    ahead = expiry - datetime.now(UTC)
    if not timedelta(minutes=2) <= ahead <= timedelta(hours=6):
        raise _bad_request("expiry must be between 2 minutes and 6 hours from now")


def _check_image(data: bytes) -> None:
    if len(data) > MAX_FILE_BYTES:
        raise ApiError(413, 5413, "Maximum image size of 10 MB is reached")
    if data.lstrip().startswith((b"<svg", b"<?xml")):
        return
    try:
        # Image.open reads the header only; no pixel is decoded here.
        with Image.open(io.BytesIO(data)) as image:
            image_format, (width, height) = image.format, image.size
    except Image.DecompressionBombError as exc:
        raise _bad_request("image area exceeds 100 megapixels") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise _unsupported() from exc
    if image_format not in ACCEPTED_FORMATS:
        raise _unsupported()
    if max(width, height) > MAX_SIDE or width * height > MAX_AREA:
        # The contract gives no specific code for oversized dimensions; 5400 is the generic one.
        raise _bad_request(
            f"image is {width}x{height}; the largest side may be {MAX_SIDE} px "
            "and the area 100 megapixels"
        )


def _unsupported() -> ApiError:
    # 5455 is Cloudflare's code for an unsupported format; the 415 status is our guess.
    return ApiError(
        415,
        5455,
        "Uploaded image must have image/jpeg, image/png, image/webp, "
        "image/gif or image/svg+xml content-type",
    )


def _fetch(url: str) -> tuple[bytes, str]:
    if urlsplit(url).scheme not in ("http", "https"):
        raise _bad_request("url must be http or https")
    try:
        # Scheme checked above; fetching the caller's URL is what the real API does.
        with urlopen(url, timeout=10) as response:  # noqa: S310
            data: bytes = response.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise _bad_request(f"could not fetch image from url: {exc}") from exc
    return data, urlsplit(url).path.rsplit("/", 1)[-1] or "image"


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError as exc:
        raise _bad_request("body must be JSON") from exc
    if not isinstance(value, dict):
        raise _bad_request("body must be a JSON object")
    return value


def _per_page(raw: str) -> int:
    # Documented range for list v2 (10 to 10,000); smaller pages are refused like the API does.
    try:
        value = int(raw)
    except ValueError as exc:
        raise _bad_request("per_page must be an integer") from exc
    if not 10 <= value <= 10_000:
        raise _bad_request("per_page must be between 10 and 10000")
    return value


def _encode_token(seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": seq}).encode()).decode()


def _decode_token(raw: str | None) -> int | None:
    if not raw:
        return None
    try:
        after = json.loads(base64.urlsafe_b64decode(raw.encode()))["after"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise _bad_request("invalid continuation_token") from exc
    if not isinstance(after, int):
        raise _bad_request("invalid continuation_token")
    return after


def parse_multipart(body: bytes, content_type: str) -> dict[str, FormField]:
    """Split a multipart/form-data body into its fields, keeping file bytes untouched."""
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise _bad_request("multipart body without boundary")
    fields: dict[str, FormField] = {}
    for chunk in body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, separator, value = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not separator:
            raise _bad_request("malformed multipart part")
        name, filename = _disposition(BytesHeaderParser().parsebytes(head + b"\r\n\r\n"))
        fields[name] = FormField(value=value.removesuffix(b"\r\n"), filename=filename)
    return fields


def _disposition(headers: Message) -> tuple[str, str | None]:
    name = headers.get_param("name", header="content-disposition")
    if name is None:
        raise _bad_request("multipart part without a name")
    return collapse_rfc2231_value(name), headers.get_filename()


# -- HTTP layer --------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeCloudflareImages


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # HTTP/1.0 closes every connection after its answer, so nothing is served after stop().
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.address_string(), format % args)

    def _dispatch(self) -> None:
        body = self._read_body()
        path = urlsplit(self.path).path
        if path.startswith(CONTROL_PREFIX):
            self._control(path, body)
            return
        if path.startswith(DELIVERY_PREFIX) and self.command == "GET":
            self._deliver(unquote(path.removeprefix(DELIVERY_PREFIX)))
            return
        fake = self.server.fake
        fault = fake._record(self.command, self.path)
        if fault is not None and fault.kind == "hang" and not fake._sleep(fault.seconds):
            return
        if fault is not None and fault.kind in ("rate_limit", "server_error", "error"):
            self._send_fault(fault)
            return
        try:
            result = self._run_api(path, body)
        except ApiError as error:
            if fault is None or fault.kind != "drop_after_store":
                self._send_error(error)
            return
        if fault is not None and fault.kind == "drop_after_store":
            logger.info(
                "%s dropped the connection after %s %s",
                self.address_string(),
                self.command,
                self.path,
            )
            return
        self._send_envelope(200, result)

    def _run_api(self, path: str, body: bytes) -> Any:
        fake = self.server.fake
        request = self._api_request(path, body)
        fake._authenticate(self.headers.get("Authorization"), request.account_id)
        if request.content_type.lower().startswith("multipart/form-data"):
            request.form = parse_multipart(body, request.content_type)
        if not fake._delay(request.operation):
            raise ApiError(503, 5503, "Server Unavailable")
        return fake._handle(request)

    def _api_request(self, path: str, body: bytes) -> ApiRequest:
        path_matched = False
        for method, pattern, operation in _ROUTES:
            match = pattern.match(path)
            if match is None:
                continue
            path_matched = True
            if method == self.command:
                raw_id = match.groupdict().get("id")
                query = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
                return ApiRequest(
                    operation=operation,
                    account_id=unquote(match["account"]),
                    image_id=unquote(raw_id) if raw_id is not None else None,
                    query=query,
                    body=body,
                    content_type=self.headers.get("Content-Type", ""),
                )
        if path_matched:
            # Plausible: Cloudflare's generic "method not allowed" for an API route.
            raise ApiError(405, 10405, f"Method {self.command} not allowed for this route")
        raise ApiError(
            404, 7003, f"Could not route to {path}, perhaps your object identifier is invalid?"
        )

    def _deliver(self, rest: str) -> None:
        account_hash, _, id_and_variant = rest.partition("/")
        image_id, _, _variant = id_and_variant.rpartition("/")
        stored = self.server.fake.images.get(image_id)
        if account_hash != self.server.fake.account_hash or stored is None:
            self._send(404, b"not found", "text/plain")
            return
        self._send(200, stored.data, _sniff_content_type(stored.data))

    def _control(self, path: str, body: bytes) -> None:
        fake = self.server.fake
        action = (self.command, path.removeprefix(CONTROL_PREFIX).rstrip("/"))
        try:
            if action == ("POST", "faults"):
                options = _json_object(body)
                fake.inject(str(options.pop("fault", "")), **options)
                self._send_json(200, {"ok": True, "faults": fake.state()["faults"]})
            elif action == ("POST", "reset"):
                fake.reset()
                self._send_json(200, {"ok": True})
            elif action == ("GET", "state"):
                self._send_json(200, fake.state())
            else:
                self._send_json(404, {"ok": False, "error": f"no control endpoint {action}"})
        except (ApiError, TypeError, ValueError) as exc:
            self._send_json(400, {"ok": False, "error": str(exc)})

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send_fault(self, fault: Fault) -> None:
        if fault.kind == "server_error":
            self._send(500, SERVER_ERROR_HTML, "text/html")
        elif fault.kind == "rate_limit":
            retry = fault.retry_after
            retry_header = f"{retry:g}" if isinstance(retry, float | int) else str(retry)
            # 971 is what the Cloudflare API sends with its 429s.
            error = ApiError(429, 971, "Please wait and consider throttling your request speed")
            self._send_error(error, headers={"Retry-After": retry_header})
        else:
            self._send_error(ApiError(fault.status, fault.code, fault.message))

    def _send_error(self, error: ApiError, headers: dict[str, str] | None = None) -> None:
        payload = {
            "success": False,
            "errors": [{"code": error.code, "message": error.message}],
            "messages": [],
            "result": None,
            "result_info": None,
        }
        self._send(error.status, json.dumps(payload).encode(), "application/json", headers)

    def _send_envelope(self, status: int, result: Any) -> None:
        payload = {
            "success": True,
            "errors": [],
            "messages": [],
            "result": result,
            "result_info": None,
        }
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a timeout test, typically); nothing left to tell it.
            pass


# -- command line --------------------------------------------------------------------------------


def _latency_arg(raw: str) -> Latency:
    low, _, high = raw.partition(",")
    return (float(low), float(high)) if high else float(low)


def _sniff_content_type(data: bytes) -> str:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"GIF8":
        return "image/gif"
    return "application/octet-stream"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument(
        "--latency", type=_latency_arg, default=0.0, help="seconds, or MIN,MAX for a random delay"
    )
    parser.add_argument(
        "--latency-on", default="upload", help="comma-separated operations that get latency"
    )
    parser.add_argument("--token", default="test-token")
    parser.add_argument("--account-id", default="test-account")
    parser.add_argument("--account-hash", default="test-hash")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    fake = FakeCloudflareImages(
        token=args.token,
        account_id=args.account_id,
        account_hash=args.account_hash,
        host=args.host,
        port=args.port,
        latency=args.latency,
        latency_on=[op.strip() for op in args.latency_on.split(",") if op.strip()],
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    fake.start()
    logger.info("fake Cloudflare Images listening; api_base=%s", fake.api_base)
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
