"""deploy/k8s, checked without a cluster: kinds, probes, resources, secrets, commands, queues."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from backend.ops.queue import known_queues
from tests.deploy.project import ROOT, check_command, dockerfile_stages, unknown_env

K8S = ROOT / "deploy" / "k8s"
SECRETS = {
    "SECRET_KEY",
    "DATABASE_URL",
    "CF_IMG_TOKEN",
    "EMAIL_HOST_USER",
    "EMAIL_HOST_PASSWORD",
    "METRICS_TOKEN",
}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.fixture(scope="module")
def manifests() -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in documents(path):
            name = doc.get("metadata", {}).get("name", path.name)
            found[(doc["kind"], name)] = doc
    return found


def pod(doc: dict[str, Any]) -> dict[str, Any]:
    return dict(doc["spec"]["template"]["spec"])


def containers(manifests) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, container)
        for (kind, name), doc in manifests.items()
        if kind in ("Deployment", "Job")
        for container in pod(doc)["containers"]
    ]


def test_the_expected_objects_are_there_and_kustomize_lists_them(manifests):
    assert set(manifests) == {
        ("Kustomization", "kustomization.yaml"),
        ("ConfigMap", "lagless-config"),
        ("Deployment", "lagless-web"),
        ("Service", "lagless-web"),
        ("Deployment", "lagless-worker-photos"),
        ("Deployment", "lagless-worker-email"),
        ("Deployment", "lagless-worker-maintenance"),
        ("Deployment", "lagless-scheduler"),
        ("Job", "lagless-migrate"),
    }
    kustomization = manifests[("Kustomization", "kustomization.yaml")]
    listed = set(kustomization["resources"])
    # The migrate Job runs on its own, before a rollout.
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {
        "kustomization.yaml",
        "migrate-job.yaml",
    }
    [image] = kustomization["images"]
    job = pod(manifests[("Job", "lagless-migrate")])["containers"][0]
    assert job["image"] == f"{image['newName']}:{image['newTag']}"


def test_service_routes_to_the_web_pods(manifests):
    service = manifests[("Service", "lagless-web")]["spec"]
    web = manifests[("Deployment", "lagless-web")]["spec"]
    assert service["selector"] == web["template"]["metadata"]["labels"]
    assert (
        service["ports"][0]["targetPort"]
        == web["template"]["spec"]["containers"][0]["ports"][0]["name"]
    )


def test_every_container_requests_resources_and_runs_as_the_image_user(manifests):
    [user] = [args for keyword, args in dockerfile_stages()[-1] if keyword == "USER"]
    uid = int(user.split(":")[0])
    for (kind, name), doc in manifests.items():
        if kind not in ("Deployment", "Job"):
            continue
        assert pod(doc)["securityContext"]["runAsUser"] == uid, name
        assert pod(doc)["securityContext"]["runAsNonRoot"] is True, name
        for container in pod(doc)["containers"]:
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name


def test_secrets_come_by_reference_and_every_variable_is_read_by_settings(manifests):
    config = manifests[("ConfigMap", "lagless-config")]["data"]
    assert not SECRETS & set(config), "secrets belong in the Secret, not the ConfigMap"
    assert unknown_env(set(config)) == set()
    for name, container in containers(manifests):
        assert container["envFrom"] == [{"configMapRef": {"name": "lagless-config"}}], name
        env = {item["name"]: item for item in container["env"]}
        assert unknown_env(set(env)) == set(), name
        for key in SECRETS & set(env):
            ref = env[key]["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"], "value" in env[key]) == ("lagless-secrets", key, False)
        assert {"SECRET_KEY", "DATABASE_URL", "CF_IMG_TOKEN"} <= set(env), name


def test_every_command_and_exec_probe_exists_in_the_project(manifests):
    for _name, container in containers(manifests):
        check_command(container["command"])
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if "exec" in container.get(probe, {}):
                check_command(container[probe]["exec"]["command"])


def test_probes_check_health_without_restarting_on_a_database_outage(manifests):
    config = manifests[("ConfigMap", "lagless-config")]["data"]
    web = pod(manifests[("Deployment", "lagless-web")])["containers"][0]
    ready = web["readinessProbe"]["httpGet"]
    assert ready["path"] == "/healthz"
    # Django answers 400 to a Host that ALLOWED_HOSTS does not list.
    [host] = [h["value"] for h in ready["httpHeaders"] if h["name"] == "Host"]
    assert host == config["ALLOWED_HOSTS"].split(",")[0]
    assert "tcpSocket" in web["livenessProbe"]
    for name, command in (
        ("lagless-worker-photos", "--worker"),
        ("lagless-scheduler", "--scheduler"),
    ):
        container = pod(manifests[("Deployment", name)])["containers"][0]
        assert container["livenessProbe"]["exec"]["command"][-2:] == ["checkliveness", command]


def test_a_worker_deployment_per_queue_drains_before_it_is_killed(manifests):
    config = manifests[("ConfigMap", "lagless-config")]["data"]
    drain_seconds = int(config["DRAMATIQ_SHUTDOWN_TIMEOUT_MS"]) / 1000
    threads = {}
    for (kind, name), doc in manifests.items():
        if kind != "Deployment" or not name.startswith("lagless-worker-"):
            continue
        command = pod(doc)["containers"][0]["command"]
        queue = command[command.index("--queues") + 1]
        assert name == f"lagless-worker-{queue}"
        threads[queue] = int(command[command.index("--threads") + 1])
        assert pod(doc)["terminationGracePeriodSeconds"] > drain_seconds + 5, name
    assert set(threads) == known_queues()
    assert threads["photos"] >= 8 and threads["maintenance"] == 1


def test_two_schedulers_rely_on_the_leader_lock(manifests):
    scheduler = manifests[("Deployment", "lagless-scheduler")]
    assert scheduler["spec"]["replicas"] == 2
    assert pod(scheduler)["containers"][0]["command"][-1] == "runperiodiq"
