#!/usr/bin/env python3
"""Django's command-line utility; starts the embedded Postgres when DATABASE_URL is unset."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
    if not os.environ.get("DATABASE_URL"):
        from backend.embedded_db import embedded_database_url

        os.environ["DATABASE_URL"] = embedded_database_url()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
