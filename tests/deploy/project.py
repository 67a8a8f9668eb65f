"""What the project offers its containers: settings variables, commands, entry points.

The deploy tests hold Dockerfile, compose.yml and deploy/k8s against these, so a
renamed command, a misspelt flag or a variable nothing reads fails here rather
than in a cluster.
"""

from __future__ import annotations

import ast
import importlib
import re
import shlex
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from django.core.management import get_commands, load_command_class

ROOT = Path(__file__).resolve().parents[2]
ENV_HELPERS = {"envstr", "envbool", "envint", "envlist", "envchoice"}

# Variables a container may set that settings do not read, and who reads them.
RUNTIME_ENV = {
    "PATH": "the shell: finds the venv's python",
    "PYTHONUNBUFFERED": "Python: log lines reach the container log at once",
    "PYTHONDONTWRITEBYTECODE": "Python: the code directory is read-only",
}
# The official postgres image's own variables (db service only).
POSTGRES_IMAGE_ENV = {"POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD", "PGDATA"}


def settings_env_names() -> set[str]:
    """Every variable backend/settings.py reads through the env helpers."""
    tree = ast.parse((ROOT / "backend" / "settings.py").read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ENV_HELPERS
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.add(str(node.args[0].value))
    return names


def unknown_env(names: set[str], also: Iterable[str] = ()) -> set[str]:
    return names - settings_env_names() - set(RUNTIME_ENV) - set(also)


def check_command(argv: list[str]) -> None:
    """Fail unless argv is a command this project can run with these arguments."""
    assert argv[:1] == ["python"], f"run through the image's python: {argv}"
    if argv[1] == "manage.py":
        _check_management_command(argv[2], argv[3:])
    elif argv[1:3] == ["-m", "uvicorn"]:
        _check_uvicorn(argv[3:])
    elif argv[1] == "-m":
        module = importlib.import_module(argv[2])
        assert callable(getattr(module, "main", None)), f"{argv[2]} has no main()"
    else:
        raise AssertionError(f"unknown entry point: {argv}")


def _check_management_command(name: str, args: list[str]) -> None:
    commands = get_commands()
    assert name in commands, f"manage.py has no command {name!r}"
    command = load_command_class(commands[name], name)
    parser = command.create_parser("manage.py", name)
    try:
        parser.parse_args(args)
    except SystemExit as exc:
        raise AssertionError(f"manage.py {name} rejects {args}") from exc


def _check_uvicorn(args: list[str]) -> None:
    from uvicorn.main import main as uvicorn_cli

    try:
        context = uvicorn_cli.make_context("uvicorn", list(args))
    except Exception as exc:
        raise AssertionError(f"uvicorn rejects {args}: {exc}") from exc
    module, _, attribute = context.params["app"].partition(":")
    assert getattr(importlib.import_module(module), attribute, None) is not None, args


def replace_option(argv: list[str], option: str, value: str) -> list[str]:
    """argv with the value after `option` replaced (a port, for a local run)."""
    index = argv.index(option)
    return [*argv[: index + 1], value, *argv[index + 2 :]]


# --- compose.yml --------------------------------------------------------------------

_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Resolve ${VAR}, ${VAR:-default} and ${VAR:?error} the way compose does."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if env.get(name):
            return env[name]
        if op == ":-":
            return str(arg)
        if op == ":?":
            raise AssertionError(f"compose needs {name}: {arg}")
        return ""

    return _INTERPOLATION.sub(substitute, value)


def _interpolate_tree(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_interpolate_tree(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, env) for key, value in node.items()}
    return node


def load_compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    raw = yaml.safe_load((ROOT / "compose.yml").read_text())
    return dict(_interpolate_tree(raw, env or {}))


def healthcheck_command(service: dict[str, Any]) -> list[str]:
    test = list(service["healthcheck"]["test"])
    assert test[0] == "CMD", f"exec-form healthcheck expected: {test}"
    return test[1:]


# --- Dockerfile -----------------------------------------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """Instructions as (KEYWORD, arguments), one list per build stage."""
    text = (ROOT / "Dockerfile").read_text()
    joined = re.sub(r"\\\n", " ", text)
    stages: list[list[tuple[str, str]]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        stages[-1].append((keyword.upper(), args.strip()))
    return stages


def env_assignments(args: str) -> dict[str, str]:
    """``K=V K2=V2`` (ENV, or the prefix of a RUN) as a dict."""
    pairs: dict[str, str] = {}
    for word in shlex.split(args):
        if "=" not in word or not re.match(r"^[A-Z_][A-Z0-9_]*=", word):
            break
        key, _, value = word.partition("=")
        pairs[key] = value
    return pairs
