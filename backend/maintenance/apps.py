from __future__ import annotations

from django.apps import AppConfig


class MaintenanceConfig(AppConfig):
    name = "backend.maintenance"
    label = "maintenance"
    verbose_name = "Maintenance"

    def ready(self) -> None:
        from backend.maintenance import checks  # noqa: F401  (registers the system checks)
