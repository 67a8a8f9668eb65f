"""Read-only models over the broker's tables (no SQL), and the job counters table."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("jobs", "0001_dramatiq_schema")]

    operations = [
        migrations.CreateModel(
            name="Job",
            fields=[
                ("message_id", models.UUIDField(primary_key=True, serialize=False)),
                ("queue_name", models.TextField()),
                (
                    "state",
                    models.TextField(
                        choices=[
                            ("queued", "Queued"),
                            ("consumed", "Claimed by a worker"),
                            ("rejected", "Failed"),
                        ],
                        null=True,
                    ),
                ),
                ("mtime", models.DateTimeField(null=True)),
                ("message", models.JSONField(null=True)),
                ("position", models.BigIntegerField()),
                ("available_at", models.DateTimeField()),
                ("worker_id", models.UUIDField(null=True)),
                ("consumed_at", models.DateTimeField(null=True)),
            ],
            options={
                "verbose_name": "job",
                "db_table": '"dramatiq"."queue"',
                "ordering": ("-mtime",),
                "managed": False,
            },
        ),
        migrations.CreateModel(
            name="Worker",
            fields=[
                ("worker_id", models.UUIDField(primary_key=True, serialize=False)),
                ("heartbeat_at", models.DateTimeField()),
            ],
            options={
                "verbose_name": "worker",
                "db_table": '"dramatiq"."worker"',
                "ordering": ("-heartbeat_at",),
                "managed": False,
            },
        ),
        migrations.CreateModel(
            name="JobCounter",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("actor", models.CharField(max_length=200)),
                ("metric", models.CharField(max_length=32)),
                ("label", models.CharField(blank=True, max_length=32)),
                ("value", models.BigIntegerField(default=0)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("actor", "metric", "label"), name="jobs_jobcounter_unique_series"
                    )
                ],
            },
        ),
    ]
