"""Write a run's artefacts (figures, tables, scalars) to its folder and, when W&B is on, to W&B.

The run folder is ``trainer.default_root_dir`` (knowloc sets it to the Hydra output folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from knowloc.records import add_results
from knowloc.tracking import wandb_run_of


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


def log_results(trainer, results: Mapping[str, Any]) -> None:
    """Scalar results: into the run record (``summary.json`` metrics) and the W&B run summary."""
    add_results(run_dir(trainer), dict(results))
    run = wandb_run_of(trainer)
    if run is not None:
        for k, v in results.items():
            run.summary[k] = v
