"""Fixtures for operations tests: Prometheus text parsing."""

from __future__ import annotations

import re

_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$"
)
_LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')

Series = tuple[str, frozenset[tuple[str, str]]]


def parse_metrics(text: str) -> dict[Series, float]:
    """Parse Prometheus text format strictly enough to catch a malformed line."""
    samples: dict[Series, float] = {}
    typed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#") or not line:
            continue
        match = _SAMPLE.match(line)
        assert match, f"malformed metrics line: {line!r}"
        name = match["name"]
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in typed or family in typed, f"sample without # TYPE: {line!r}"
        labels = frozenset((m["key"], m["value"]) for m in _LABEL.finditer(match["labels"] or ""))
        samples[(name, labels)] = float(match["value"])
    return samples


def sample(samples: dict[Series, float], name: str, **labels: str) -> float:
    """One series' value; 0 when the series is absent (counters start at zero)."""
    return samples.get((name, frozenset(labels.items())), 0.0)
