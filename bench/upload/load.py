"""The load generator: one thread per signed-in user, each posting photos back to back.

The multipart body is built once per image (the CSRF token travels in the
X-CSRFToken header), so the client spends its CPU on sending, not on encoding.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

import requests

BOUNDARY = "benchboundary7d1c2f"


@dataclass(frozen=True)
class Result:
    started: float
    ended: float
    status: int

    @property
    def ms(self) -> float:
        return (self.ended - self.started) * 1000


def multipart(photo: bytes) -> bytes:
    head = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="photo"; filename="phone.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return head + photo + f"\r\n--{BOUNDARY}--\r\n".encode()


class User:
    """A browser with a signed-in session and a CSRF cookie from the settings page."""

    def __init__(self, base: str, session_key: str) -> None:
        self.http = requests.Session()
        self.http.cookies.set("sessionid", session_key, domain="127.0.0.1")
        page = self.http.get(f"{base}/settings/", timeout=30)
        page.raise_for_status()
        if re.search(r'name="csrfmiddlewaretoken"', page.text) is None:
            raise RuntimeError("the settings page has no CSRF token: is the session signed in?")
        self.csrf = self.http.cookies["csrftoken"]

    def upload(self, url: str, body: bytes, referer: str) -> Result:
        headers = {
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "X-CSRFToken": self.csrf,
            "Referer": referer,
        }
        started = time.monotonic()
        try:
            response = self.http.post(url, data=body, headers=headers, allow_redirects=False,
                                      timeout=120)  # fmt: skip
            status = response.status_code
        except requests.RequestException:
            status = 0
        return Result(started, time.monotonic(), status)


def run_users(users: list[User], url: str, bodies: list[bytes], per_user: int) -> list[Result]:
    """Start every user at once; each uploads `per_user` photos back to back."""
    results: list[Result] = []
    lock = threading.Lock()
    gate = threading.Barrier(len(users))

    def act(index: int, user: User) -> None:
        gate.wait()
        mine = [user.upload(url, bodies[(index + i) % len(bodies)], url) for i in range(per_user)]
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=act, args=(i, u)) for i, u in enumerate(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
