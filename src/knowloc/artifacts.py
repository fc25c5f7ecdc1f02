"""Write a run's artefacts (figures, tables, scalars) to its folder and, when W&B is on, to W&B.

The run folder is ``trainer.default_root_dir`` (knowloc sets it to the Hydra output folder).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from knowloc.records import add_results
from knowloc.tracking import wandb_run_of


@dataclass(frozen=True)
class Artefact:
    """One file a family writes into a run folder: ``path`` relative to the run folder, with its
    suffix (``{name}`` fields for a family of files, e.g. ``snapshots/epoch{epoch:03d}.npz``), and
    ``meaning``, one line on what it holds. Declared once, in the family's ``artefacts.py``
    (``ARTEFACTS``); writers and readers take the path from here, never from a string of their own.
    """

    path: str
    meaning: str

    @property
    def key(self) -> str:
        """The path without its suffix: the name for :func:`save_figure` / :func:`save_table` and
        the W&B key."""
        return self.path.rsplit(".", 1)[0]

    def name(self, **fields) -> str:
        """The relative path with its ``{fields}`` filled in."""
        return self.path.format(**fields) if fields else self.path

    def at(self, run_dir: str | Path, **fields) -> Path:
        """The file in ``run_dir``."""
        return Path(run_dir) / self.name(**fields)

    def exists(self, run_dir: str | Path, **fields) -> bool:
        return self.at(run_dir, **fields).is_file()

    def matches(self, run_dir: str | Path) -> list[Path]:
        """Every file of this artefact in ``run_dir`` (for a path with ``{fields}``), sorted."""
        import re

        pattern = re.sub(r"\\\{[^}]*\\\}", "(.+)", re.escape(self.path))
        base = Path(run_dir)
        head = self.path.split("{", 1)[0].rsplit("/", 1)[0] if "/" in self.path.split("{", 1)[0] else ""
        root = base / head if head else base
        if not root.is_dir():
            return []
        return sorted(p for p in root.rglob("*") if p.is_file()
                      and re.fullmatch(pattern, p.relative_to(base).as_posix()))


def run_dir(trainer) -> Path:
    path = Path(trainer.default_root_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_figure(trainer, name: str, fig, dpi: int = 110, tight: bool = True) -> Path:
    """``<run>/<name>.png`` and a W&B image under key ``name``; closes the figure.

    ``tight=False`` keeps the figure's own layout (one draw instead of two: faster)."""
    import matplotlib.pyplot as plt

    path = run_dir(trainer) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight" if tight else None)
    plt.close(fig)
    run = wandb_run_of(trainer)
    if run is not None:
        import wandb

        run.log({name: wandb.Image(str(path))})
    return path


def save_image_file(trainer, name: str, path: Path) -> None:
    """Log an image file already written to the run folder (PNG or GIF) to W&B."""
    run = wandb_run_of(trainer)
    if run is not None:
        import wandb

        run.log({name: wandb.Image(str(path)) if path.suffix != ".gif" else wandb.Video(str(path), format="gif")})


def table_key(name: str) -> str:
    """The W&B key of the table ``name`` (distinct from the figure key ``name``)."""
    return f"{name}_table"


def save_table(trainer, name: str, table, wandb_rows: int | None = 10000) -> Path:
    """``<run>/<name>.csv`` from a pandas DataFrame, and a W&B table (first ``wandb_rows`` rows)
    under key ``<name>_table``: a figure of the same name (:func:`save_figure`, key ``<name>``)
    would otherwise replace the table in the W&B run summary."""
    path = run_dir(trainer) / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    run = wandb_run_of(trainer)
    if run is not None:
        import wandb

        shown = table if wandb_rows is None else table.head(wandb_rows)
        run.log({table_key(name): wandb.Table(dataframe=shown.reset_index(drop=True))})
    return path


def child_dir(trainer, name: str) -> Path:
    """The folder of the child run ``name`` (``<run>/runs/<name>``, :mod:`knowloc.children`), created."""
    from knowloc import children

    path = children.folder(run_dir(trainer), name)
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_results(trainer, results: Mapping[str, Any], child: str | None = None) -> None:
    """Scalar results: into the run record (``summary.json`` metrics) and the W&B run summary.

    ``child``: the results of the child run of that name instead (its own record, written by the
    task at the end of the job; no W&B keys: the module's per-child table carries them to W&B)."""
    if child is not None:
        add_results(child_dir(trainer, child), dict(results))
        return
    add_results(run_dir(trainer), dict(results))
    run = wandb_run_of(trainer)
    if run is not None:
        for k, v in results.items():
            run.summary[k] = v
