"""``manage.py rundramatiq`` that loads the project's ``actors`` package.

django_dramatiq discovers ``tasks`` modules inside apps; this project keeps its
actors in the top-level ``actors`` package instead, one module per domain.
"""

from __future__ import annotations

import pkgutil

from django_dramatiq.management.commands.rundramatiq import Command as BaseCommand

import actors


class Command(BaseCommand):  # type: ignore[misc]
    def discover_tasks_modules(self) -> list[str]:
        modules = ["django_dramatiq.setup"]
        for info in pkgutil.iter_modules(actors.__path__, prefix="actors."):
            self.stdout.write(f" * Discovered actors module: {info.name!r}")
            modules.append(info.name)
        return modules
