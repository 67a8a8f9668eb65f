"""compose.yml, checked without a Docker engine: services, health, variables, commands."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.deploy.project import (
    POSTGRES_IMAGE_ENV,
    ROOT,
    check_command,
    healthcheck_command,
    load_compose,
    unknown_env,
)

APP_SERVICES = ("migrate", "web", "worker", "scheduler")


@pytest.fixture(scope="module")
def compose():
    return load_compose()


def test_services_start_in_order_with_health_checks_and_no_redis(compose):
    services = compose["services"]
    assert set(services) == {"db", *APP_SERVICES}
    assert "redis" not in json.dumps(compose).lower()
    db = services["db"]
    assert db["image"] == "postgres:17"
    assert healthcheck_command(db)[0] == "pg_isready"
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "scheduler"):
        assert services[name]["depends_on"] == {
            "db": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }, name
        assert services[name]["healthcheck"]["test"], name


def test_database_and_dev_media_live_in_volumes(compose):
    services = compose["services"]
    assert set(compose["volumes"]) == {"pgdata", "media"}
    assert "pgdata:/var/lib/postgresql/data" in services["db"]["volumes"]
    for name in ("web", "worker"):
        assert "media:/data/media" in services[name]["volumes"], name
        assert services[name]["environment"]["MEDIA_ROOT"] == "/data/media"


def test_worker_gets_longer_to_stop_than_its_jobs_get_to_finish(compose):
    worker = compose["services"]["worker"]
    timeout_ms = int(worker["environment"]["DRAMATIQ_SHUTDOWN_TIMEOUT_MS"])
    grace = worker["stop_grace_period"]
    assert grace.endswith("s") and int(grace[:-1]) * 1000 > timeout_ms


def test_every_variable_the_services_set_is_read_by_settings(compose):
    services = compose["services"]
    assert unknown_env(set(services["db"]["environment"]), also=POSTGRES_IMAGE_ENV) == set()
    assert set(services["db"]["environment"]) <= POSTGRES_IMAGE_ENV
    for name in APP_SERVICES:
        assert unknown_env(set(services[name]["environment"])) == set(), name


def test_every_command_and_health_check_exists_in_the_project(compose):
    for name in APP_SERVICES:
        service = compose["services"][name]
        check_command(service["command"])
        if name != "migrate":
            check_command(healthcheck_command(service))


def settings_in(env: dict[str, str], *names: str) -> dict[str, object]:
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}, default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "backend.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_env_name_switches_between_local_photos_and_cloudflare():
    dev = load_compose({})["services"]["worker"]["environment"]
    assert settings_in(dev, "ENV_NAME", "PHOTO_STORAGE", "DEBUG") == {
        "ENV_NAME": "dev",
        "PHOTO_STORAGE": "local",
        "DEBUG": False,
    }
    dotenv = {
        "ENV_NAME": "prod",
        "SECRET_KEY": "k" * 50,
        "ALLOWED_HOSTS": "lagless.example.org",
        "CONTACT_RECIPIENTS": "ops@example.org",
        "CF_ACCT_ID": "acct",
        "CF_IMG_TOKEN": "token",
        "CF_IMG_HASH": "hash",
    }
    # compose reads .env for ${ENV_NAME} and passes the file to the container.
    prod = {**dotenv, **load_compose(dotenv)["services"]["worker"]["environment"]}
    assert settings_in(prod, "ENV_NAME", "PHOTO_STORAGE") == {
        "ENV_NAME": "prod",
        "PHOTO_STORAGE": "cloudflare_images",
    }
