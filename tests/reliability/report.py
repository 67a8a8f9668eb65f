"""Write docs/reliability.md from the figures the reliability suite recorded.

Run by ``python3 dev.py reliability`` after the suite; see tests/reliability/harness.py.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time

from tests.reliability.harness import RESULTS, ROOT

DOC = ROOT / "docs" / "reliability.md"

HEADER = """# Reliability

What the system does when processes die, the database restarts and the services it
calls go down. Each row is one scenario of `tests/reliability/`, run against the
real system (uvicorn, `rundramatiq` workers, a private embedded Postgres, the fake
Cloudflare server over HTTP, a loopback SMTP server) with faults injected from
outside. Regenerate this file with `python3 dev.py reliability`; the same tests run
in `python3 dev.py test`.

"""


def render(results: dict[str, dict[str, object]]) -> str:
    lines = [
        HEADER,
        f"Last run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
        f"{platform.node() or 'this machine'} ({_cores()} cores), commit {_commit()}.\n",
        "| scenario | expected | observed | holds |",
        "|---|---|---|---|",
    ]
    for name, row in sorted(results.items()):
        observed = row["observed"]
        assert isinstance(observed, dict)
        figures = ", ".join(f"{key.replace('_', ' ')}: {value}" for key, value in observed.items())
        holds = "yes" if row["holds"] else "**no**"
        lines.append(f"| {name} | {row['expected']} | {figures} | {holds} |")
    return "\n".join(lines) + "\n"


def _cores() -> str:
    return str(os.cpu_count())


def _commit() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return result.stdout.strip() or "unknown"


def main() -> None:
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(render(results))
    print(f"wrote {DOC.relative_to(ROOT)} ({len(results)} scenarios)")


if __name__ == "__main__":
    main()
