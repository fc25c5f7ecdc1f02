"""``python -m knowloc.results``: run the sweeps behind the README, write docs/results, update README."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

from knowloc.errors import UserError
from knowloc.results import FAMILIES
from knowloc.results.blocks import update_readme
from knowloc.results.report import Context
from knowloc.results.steps import marker_seeds, run_step


def family_module(name: str):
    return importlib.import_module(f"knowloc.results.{name}")


def run_family(name: str, seeds: int | None, out: Path, docs: Path, render_only: bool, force: bool) -> Path:
    mod = family_module(name)
    if render_only and seeds is None:  # the seed count the runs there were made with
        seeds = next((marker_seeds(d) for d in sorted((out / name).glob("*")) if marker_seeds(d)), None)
    n = seeds or mod.SEEDS
    ctx = Context(name, mod.steps(n), out / name, docs / name, n, mod.SEEDS)
    t0 = time.perf_counter()
    print(f"[results] {name}: {len(ctx.steps)} steps, {n} seeds", flush=True)
    if not render_only:
        for step in ctx.steps:
            run_step(step, ctx.out, force, n)
    missing = [s.name for s in ctx.steps if not (ctx.out / s.name).is_dir()]
    if missing:
        raise UserError(f"no runs of step {missing[0]!r} under {ctx.out}; run `make results FAMILY={name}` "
                        f"(without --render-only) first")
    ctx.docs.mkdir(parents=True, exist_ok=True)
    for old in ctx.docs.glob("*"):
        old.unlink()
    t1 = time.perf_counter()
    md = docs / f"{name}.md"
    md.write_text(mod.render(ctx))
    print(f"[results] {name}: rendered {md} and {len(ctx.files)} files in {time.perf_counter() - t1:.1f} s; "
          f"family total {time.perf_counter() - t0:.1f} s", flush=True)
    return md


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m knowloc.results", description=__doc__)
    p.add_argument("--family", action="append", choices=FAMILIES,
                   help="only this family (repeatable; default all; env FAMILY)")
    p.add_argument("--seeds", type=int, default=None,
                   help="seeds per cell instead of each family's own (env RESULTS_SEEDS; for a quick check)")
    p.add_argument("--out", default=os.environ.get("RESULTS_OUT", "outputs/results"), help="where the runs go")
    p.add_argument("--docs", default="docs/results", help="where the blocks, tables and figures go")
    p.add_argument("--readme", default="README.md")
    p.add_argument("--render-only", action="store_true", help="render from the runs already there")
    p.add_argument("--force", action="store_true", help="rerun steps that are done")
    args = p.parse_args(argv)
    env_family = [f for f in os.environ.get("FAMILY", "").replace(",", " ").split() if f]
    families = args.family or env_family or list(FAMILIES)
    env_seeds = os.environ.get("RESULTS_SEEDS", "").strip()
    try:
        if env_seeds and not env_seeds.isdigit():
            raise UserError(f"RESULTS_SEEDS={env_seeds!r} is not allowed; expected an integer >= 2")
        seeds = args.seeds or (int(env_seeds) if env_seeds else None)
        unknown = [f for f in families if f not in FAMILIES]
        if unknown:
            raise UserError(f"FAMILY={unknown[0]!r} is not allowed; expected one of {', '.join(FAMILIES)}")
        if seeds is not None and seeds < 2:
            raise UserError(f"RESULTS_SEEDS={seeds} is not allowed; expected an integer >= 2 (a t interval)")
        t0 = time.perf_counter()
        for name in families:
            run_family(name, seeds, Path(args.out), Path(args.docs), args.render_only, args.force)
        done = update_readme(Path(args.readme), Path(args.docs), families)
        print(f"[results] README blocks updated: {', '.join(done)}; total {time.perf_counter() - t0:.1f} s")
    except UserError as e:
        print(f"knowloc: error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
