"""Create the dramatiq-postgres queue schema (tables ``dramatiq.queue``, ``worker``, ``result``)."""

from __future__ import annotations

from typing import Any

from django.db import migrations
from dramatiq_postgres import schema


def create_schema(apps: Any, schema_editor: Any) -> None:
    with schema_editor.connection.cursor() as cursor:
        schema.init(cursor, schema="dramatiq", prefix="")


def drop_schema(apps: Any, schema_editor: Any) -> None:
    schema_editor.execute("DROP SCHEMA IF EXISTS dramatiq CASCADE")


class Migration(migrations.Migration):
    initial = True
    operations = [migrations.RunPython(create_schema, drop_schema)]
