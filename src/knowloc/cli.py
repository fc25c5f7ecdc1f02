"""The ``knowloc`` command.

``knowloc [hydra overrides]`` runs an experiment (``-m`` for a multirun sweep);
``knowloc compare PATH ...`` tabulates run records; ``knowloc locate RUN`` locates classes in a trained net; ``knowloc explore RUN`` builds a report.
Before Hydra starts, the overrides are composed once per swept value and checked, so a user's
mistake gives one line (key, bad value, what is allowed) and exit status 2, never a traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

os.environ.setdefault("WANDB_MODE", "offline")

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from knowloc.errors import UserError  # noqa: E402

CONFIG_MODULE = "knowloc.conf"
SUBCOMMANDS = ("compare", "explore", "locate")


def fail(message: str, code: int = 2) -> None:
    print(f"knowloc: error: {message}", file=sys.stderr)
    sys.exit(code)


@hydra.main(version_base="1.3", config_path="pkg://" + CONFIG_MODULE, config_name="config")
def _hydra_entry(cfg: DictConfig) -> None:
    from knowloc.train import run

    try:
        run(cfg)
    except UserError as e:
        fail(str(e), e.exit_code)


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        if argv[0] == "compare":
            from knowloc.compare import main as compare_main
            return compare_main(argv[1:])
        if argv[0] == "locate":
            from knowloc.locate.command import main as locate_main
            return locate_main(argv[1:])
        from knowloc.explore import main as explore_main  # noqa: F811
        return explore_main(argv[1:])
    from knowloc.preflight import preflight

    try:
        preflight(argv)
    except UserError as e:
        fail(str(e), e.exit_code)
    from knowloc import train

    from knowloc import sweep_progress

    sys.argv = [sys.argv[0] if sys.argv else "knowloc"] + argv
    try:
        _hydra_entry()
    finally:  # a multirun's summary even when a job stopped the sweep
        sweep_progress.finish()
    if train.FAILED_JOBS:
        n = len(train.FAILED_JOBS)
        if n > 1 or "-m" in argv or "--multirun" in argv:  # a single run has said it once already
            print(f"knowloc: {n} job(s) failed: " + ", ".join(train.FAILED_JOBS), file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":  # pragma: no cover
    main()
