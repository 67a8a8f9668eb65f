"""The Dockerfile, checked without Docker: structure, variables, commands, collectstatic."""

from __future__ import annotations

import fnmatch
import json
import shlex
import subprocess
import sys

from tests.deploy.project import (
    ROOT,
    check_command,
    dockerfile_stages,
    env_assignments,
    unknown_env,
)


def runtime_stage() -> list[tuple[str, str]]:
    return dockerfile_stages()[-1]


def test_two_stages_slim_runtime_as_non_root_without_build_tools():
    builder, runtime = dockerfile_stages()
    assert builder[0] == ("FROM", "python:3.11-slim AS builder")
    assert runtime[0] == ("FROM", "python:3.11-slim AS runtime")
    builder_runs = " ".join(args for keyword, args in builder if keyword == "RUN")
    assert "uv sync --frozen --no-dev" in builder_runs
    builder_env = [env_assignments(args) for keyword, args in builder if keyword == "ENV"]
    assert {"UV_PROJECT_ENVIRONMENT": "/app/.venv"}.items() <= builder_env[0].items()
    assert ("COPY", "--from=builder --chown=root:root /app /app") in runtime
    runtime_text = " ".join(args for _, args in runtime).lower()
    for tool in ("apt-get", "gcc", "build-essential", "uv sync", "pip install"):
        assert tool not in runtime_text, tool
    [user] = [args for keyword, args in runtime if keyword == "USER"]
    assert user.split(":")[0] not in ("root", "0")


def test_every_variable_the_image_sets_is_read_by_settings():
    runtime = runtime_stage()
    env: dict[str, str] = {}
    for keyword, args in runtime:
        if keyword == "ENV":
            env.update(env_assignments(args))
        if keyword == "RUN":
            env.update(env_assignments(args))
    assert {"MEDIA_ROOT", "STATIC_ROOT", "ENV_NAME"} <= set(env)
    assert unknown_env(set(env)) == set()


def test_collectstatic_step_runs_as_written(tmp_path):
    [step] = [args for k, args in runtime_stage() if k == "RUN" and "collectstatic" in args]
    words = shlex.split(step)
    env = env_assignments(step)
    command = words[len(env) :]
    assert command[:2] == ["python", "manage.py"]
    check_command(command)
    # As in the image, except where the files go and which python runs.
    result = subprocess.run(
        [sys.executable, *command[1:]],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env, "STATIC_ROOT": str(tmp_path / "static")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())
    hashed = manifest["paths"]["admin/css/base.css"]
    assert hashed != "admin/css/base.css"
    assert (tmp_path / "static" / (hashed + ".gz")).exists()  # compressed for whitenoise


def test_default_command_is_the_web_server():
    [cmd] = [args for keyword, args in runtime_stage() if keyword == "CMD"]
    argv = json.loads(cmd)
    check_command(argv)
    assert argv[:3] == ["python", "-m", "uvicorn"]


def test_dockerignore_keeps_secrets_and_local_state_out_but_not_the_sources():
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        return any(fnmatch.fnmatch(path, pattern) for pattern in patterns)

    for path in (".env", ".git", ".venv", ".data", "tests", "staticfiles"):
        assert ignored(path), path
    sources = [
        word
        for keyword, args in dockerfile_stages()[0]
        if keyword == "COPY" and not args.startswith("--from")
        for word in args.split()[:-1]
    ]
    assert set(sources) == {"pyproject.toml", "uv.lock", "manage.py", "backend", "actors"}
    assert not any(ignored(path) for path in sources)
