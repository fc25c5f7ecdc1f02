"""``make bench``: run every ``bench/bench_*.py`` and write ``bench/results.json``.

Each module has ``run() -> dict[str, dict]``: one entry per benchmark, keyed by a stable name,
each with ``ratio`` (ours over baseline, higher is better), the raw figures and their units.
``python bench/run.py NAME ...`` runs only the modules whose name contains NAME.
"""

from __future__ import annotations

import importlib.util
import json
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    out = HERE / "results.json"
    results = json.loads(out.read_text()) if out.exists() else {}
    failed = 0
    for path in sorted(HERE.glob("bench_*.py")):
        if argv and not any(a in path.stem for a in argv):
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(spec)
        t0 = time.time()
        try:
            spec.loader.exec_module(mod)
            entries = mod.run()
        except Exception:
            traceback.print_exc()
            failed += 1
            continue
        for name, entry in entries.items():
            entry.setdefault("module", path.stem)
            entry["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
            entry["machine"] = f"{platform.machine()} {platform.processor() or ''}".strip()
            results[name] = entry
            print(f"{name}: ratio {entry.get('ratio', float('nan')):.2f}  "
                  + ", ".join(f"{k}={v}" for k, v in entry.items() if k not in ("ratio", "module", "measured_at", "machine")))
        print(f"[{path.stem}: {time.time() - t0:.1f} s]")
        out.write_text(json.dumps(results, indent=2, sort_keys=True))
    print(f"wrote {out}")
    if not argv:  # a full run: the committed figures and the README's table follow it
        sys.path.insert(0, str(HERE))
        from readme import publish

        publish(out)
        print("wrote docs/results/bench.json and the README's benchmark table")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
