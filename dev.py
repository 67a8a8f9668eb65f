#!/usr/bin/env python3
"""Set everything up and run the system or its tests: ``python3 dev.py run|test``.

Needs only Python 3.11+. It creates ``.venv``, installs the locked dependencies
with uv, starts an embedded Postgres when DATABASE_URL is unset, then either runs
web + worker + scheduler in this terminal (``run``) or the checks and tests
(``test``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
UV_VERSION = "0.13.9"


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: python3 dev.py {{{'|'.join(COMMANDS)}}} [args...]", file=sys.stderr)
        return 2
    if sys.version_info < (3, 11):  # noqa: UP036  (dev.py may be started by an older python3)
        print("lagless needs Python 3.11 or newer.", file=sys.stderr)
        return 2
    if Path(sys.prefix).resolve() != VENV.resolve():
        _bootstrap()
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), __file__, *sys.argv[1:]])  # noqa: S606
    os.chdir(ROOT)
    return COMMANDS[sys.argv[1]](sys.argv[2:])


def _bootstrap() -> None:
    """Create .venv and sync it with uv.lock (fast no-op when already in sync)."""
    if not VENV_PYTHON.exists():
        print("* creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    uv = VENV / "bin" / "uv"
    if not uv.exists():
        _check([str(VENV_PYTHON), "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}"])
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(VENV)}
    _check([str(uv), "sync", "--frozen", "--quiet"], env=env)


def _check(cmd: list[str], **kwargs: object) -> None:
    result = subprocess.run(cmd, cwd=ROOT, check=False, **kwargs)  # type: ignore[call-overload]  # noqa: S603
    if result.returncode != 0:
        sys.exit(result.returncode)


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PYTHONUNBUFFERED", "1")
    if not env.get("DATABASE_URL"):
        from backend.embedded_db import embedded_database_url

        print(
            "* DATABASE_URL is unset: starting the embedded Postgres in .data/postgres", flush=True
        )
        env["DATABASE_URL"] = embedded_database_url()
    return env


def run(args: list[str]) -> int:
    env = _environment()
    procfile = env.get("PROCFILE", "Procfile")
    if env.get("FAKE_CLOUDFLARE") == "1":
        procfile = _with_fake_cloudflare(env, procfile)
    manage = [str(VENV_PYTHON), "manage.py"]
    _check([*manage, "migrate", "--no-input"], env=env)
    _check([*manage, "collectstatic", "--no-input", "--verbosity", "0"], env=env)
    port = env.setdefault("WEB_PORT", "8000")
    print(
        f"* lagless is starting on http://127.0.0.1:{port}/ (Ctrl-C stops everything)", flush=True
    )
    return subprocess.call([str(VENV / "bin" / "honcho"), "-f", procfile, "start", *args], env=env)  # noqa: S603


def _ensure_chromium() -> None:
    """The browser tests drive Debian's Chromium; install it when it is missing."""
    if shutil.which("chromium") or not shutil.which("apt-get") or os.geteuid() != 0:
        return
    print("* installing Debian's chromium for the browser tests", flush=True)
    subprocess.call(["apt-get", "update", "-qq"], stdout=subprocess.DEVNULL)  # noqa: S607
    code = subprocess.call(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"],  # noqa: S607
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        stdout=subprocess.DEVNULL,
    )
    if code != 0:
        print("* could not install chromium; browser tests will fail", flush=True)


def _with_fake_cloudflare(env: dict[str, str], procfile: str) -> str:
    """Store photos in the project's fake Cloudflare Images (6-8 s per upload) for demos."""
    port = env.setdefault("FAKE_CLOUDFLARE_PORT", "8787")
    for name, value in {
        "PHOTO_STORAGE": "cloudflare_images",
        "CF_ACCT_ID": "demo-account",
        "CF_IMG_TOKEN": "demo-token",
        "CF_IMG_HASH": "demo-hash",
        "CF_API_BASE": f"http://127.0.0.1:{port}/client/v4",
        "CF_DELIVERY_BASE": f"http://127.0.0.1:{port}/delivery",
    }.items():
        env.setdefault(name, value)
    fake = (
        f"fakecf: python -m backend.media.fake_cloudflare --port {port}"
        f" --latency {env.get('FAKE_CLOUDFLARE_LATENCY', '6,8')} --token {env['CF_IMG_TOKEN']}"
        f" --account-id {env['CF_ACCT_ID']} --account-hash {env['CF_IMG_HASH']}\n"
    )
    combined = ROOT / ".data" / "Procfile.fake-cloudflare"
    combined.parent.mkdir(exist_ok=True)
    combined.write_text((ROOT / procfile).read_text() + fake)
    return str(combined)


def test(args: list[str]) -> int:
    env = _environment()
    _ensure_chromium()
    steps = [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["mypy", "."],
        ["pytest", *args],
    ]
    for step in steps:
        print(f"* {' '.join(step)}", flush=True)
        code = subprocess.call([str(VENV / "bin" / step[0]), *step[1:]], env=env)  # noqa: S603
        if code != 0:
            print(f"* FAILED: {' '.join(step)} (exit {code})", flush=True)
            return code
    return 0


def reliability(args: list[str]) -> int:
    """Run the fault-injection suite and regenerate docs/reliability.md from it."""
    env = _environment()
    env.setdefault("RELIABILITY_BACKLOG", "100000")
    results = ROOT / "test-artifacts" / "reliability.json"
    results.unlink(missing_ok=True)
    code = subprocess.call(  # noqa: S603
        [str(VENV / "bin" / "pytest"), "tests/reliability", "-m", "reliability", *args], env=env
    )
    subprocess.call([str(VENV_PYTHON), "-m", "tests.reliability.report"], env=env)  # noqa: S603
    return code


COMMANDS = {"run": run, "test": test, "reliability": reliability}

if __name__ == "__main__":
    sys.exit(main())
