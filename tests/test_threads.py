"""Same config, same numbers, whatever the machine's thread settings (issue 19, section 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from thread_jobs import FAMILIES

HERE = Path(__file__).resolve().parent


def jobs_under(threads: int, out: Path) -> dict:
    """Every family's short job in a fresh process whose machine settings say ``threads`` threads."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "WANDB_MODE": "offline"}
    p = subprocess.run([sys.executable, str(HERE / "thread_jobs.py"), str(threads), str(out)], env=env,
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_every_family_gives_identical_metrics_under_one_and_two_machine_threads(tmp_path):
    one, two = jobs_under(1, tmp_path / "t1"), jobs_under(2, tmp_path / "t2")
    assert set(one) == set(two) == set(FAMILIES)
    for family in FAMILIES:
        a, b = one[family], two[family]
        assert a["status"] == b["status"] == "finished", family
        # the job's config fixes its threads (recorded in summary.json), whatever the process had
        assert a["config_threads"] == b["config_threads"] == a["torch_threads"] == b["torch_threads"], family
        assert len(a["metrics"]) >= 3, family
        assert a["metrics"] == b["metrics"], family  # bit-identical, not approximately equal
