"""Every file the snapshots family writes, under ``<run>/snapshots/``: :data:`ARTEFACTS` (path and
meaning of each; ``{i:04d}`` is the snapshot number, ``{layer}`` a conv layer). The store
(:class:`~knowloc.snapshots.store.SnapshotStore`) and the views (:mod:`knowloc.snapshots.views`)
take their paths from here; the callback writes the rest through :func:`write`; the explorer
page, the results and the tests read through :func:`read_index`, :func:`read_views`,
:func:`picture`, :func:`picture_layers` and the declarations.

Columns: ``changes``: i, epoch, step, layer and the measures of :mod:`knowloc.snapshots.changes`
(rel_dist_init, rel_dist_prev, cos_init, sign_flip_init, sign_flip_prev); ``moves``: layer, rank,
filter, rel_dist_init (m_f = ||W_f,T - W_f,0||_2 / ||W_f,0||_2, most moved first).

Results (``summary.json`` metrics and the W&B summary): ``snapshots/n`` and, per layer with a
weight, the last snapshot's ``snapshots/<layer>/{rel_dist_init,cos_init,sign_flip_init}``;
``FreezeLayers`` writes no file, only ``freeze/frozen_params``, ``freeze/trainable_params`` and
``freeze/max_abs_change`` (0 when the frozen weights stayed bit-identical).
W&B (when on): per-snapshot metrics ``snapshots/<layer>/<measure>`` with ``snapshots/epoch``; the
media of :mod:`knowloc.snapshots.media`.
"""

from __future__ import annotations

import json
from pathlib import Path

from knowloc.artifacts import Artefact

FOLDER = "snapshots"
_FILTERS = f"{FOLDER}/filters"
INDEX = Artefact(f"{FOLDER}/index.json", "the store's index: format, dtype, layers {name: {param: shape}}, "
                 "snapshots [{i, epoch, step, tag, file}] (tag: init|epoch|step|last)")
SNAPSHOT = Artefact(f"{FOLDER}/{{i:04d}}.safetensors", "snapshot i: tensors <layer>.weight, <layer>.bias")
PICTURE = Artefact(f"{_FILTERS}/{{layer}}/{{i:04d}}.png", "a conv layer's filters W_t at snapshot i")
PICTURE_FROM_INIT = Artefact(f"{_FILTERS}/{{layer}}/from_init/{{i:04d}}.png",
                             "W_t - W_0 at snapshot i, filters most moved first")
PICTURE_FROM_PREV = Artefact(f"{_FILTERS}/{{layer}}/from_prev/{{i:04d}}.png",
                             "W_t - W_(t-1) at snapshot i, filters most moved first")
ANIMATION = Artefact(f"{_FILTERS}/{{layer}}.gif", "the W_t pictures as a GIF, one colour range for the run")
ANIMATION_FROM_INIT = Artefact(f"{_FILTERS}/{{layer}}.from_init.gif", "the W_t - W_0 pictures as a GIF")
VIEWS_RECORD = Artefact(f"{_FILTERS}/views.json", "per layer: colour scale, range quantile, filter order, "
                        "moves m_f, each view's range, caption and GIF per snapshot")
MOVES = Artefact(f"{_FILTERS}/moves.csv", "per conv layer and filter: rank and m_f, most moved first")
CHANGES = Artefact(f"{FOLDER}/changes.csv", "change measures per snapshot and layer")
CHANGES_FIGURE = Artefact(f"{FOLDER}/changes.png", "the change measures vs epoch, one line per layer")
ARTEFACTS = (INDEX, SNAPSHOT, PICTURE, PICTURE_FROM_INIT, PICTURE_FROM_PREV, ANIMATION, ANIMATION_FROM_INIT,
             VIEWS_RECORD, MOVES, CHANGES, CHANGES_FIGURE)

#: filter view (:data:`knowloc.snapshots.options.VIEWS`) -> its pictures / its GIF
PICTURES = {"weights": PICTURE, "from_init": PICTURE_FROM_INIT, "from_prev": PICTURE_FROM_PREV}
ANIMATIONS = {"weights": ANIMATION, "from_init": ANIMATION_FROM_INIT}


def present(run_dir: str | Path) -> bool:
    return INDEX.exists(run_dir)


def picture(run_dir: str | Path, layer: str, view: str, i: int) -> Path:
    """The picture of ``view`` of ``layer`` at snapshot ``i``."""
    return PICTURES[view].at(run_dir, layer=layer, i=i)


def picture_dir(run_dir: str | Path, layer: str, view: str) -> Path:
    """The folder of the pictures of ``view`` of ``layer``."""
    return picture(run_dir, layer, view, 0).parent


def picture_layers(run_dir: str | Path) -> list[str]:
    """The layers that have pictures, by name."""
    folder = picture_dir(run_dir, "-", "weights").parent
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def animation(run_dir: str | Path, layer: str, view: str) -> Path:
    """The GIF of ``view`` of ``layer``; for a view without one (:data:`ANIMATIONS`), the file of the
    same pattern an earlier drawing may have left (removed when the views are redrawn)."""
    if view in ANIMATIONS:
        return ANIMATIONS[view].at(run_dir, layer=layer)
    return ANIMATION.at(run_dir, layer=f"{layer}.{view}")


def read_index(run_dir: str | Path) -> dict | None:
    """``index.json`` of a run (None without snapshots)."""
    path = INDEX.at(run_dir)
    return json.loads(path.read_text()) if path.is_file() else None


def read_views(run_dir: str | Path) -> dict | None:
    """``views.json`` of a run (None when no pictures were drawn)."""
    path = VIEWS_RECORD.at(run_dir)
    return json.loads(path.read_text()) if path.is_file() else None


def read_changes(run_dir: str | Path):
    """The change table as a pandas DataFrame (None when there is none)."""
    import pandas as pd

    path = CHANGES.at(run_dir)
    return pd.read_csv(path) if path.is_file() else None


def write_changes(run_dir: str | Path, rows: list[dict]) -> list[Path]:
    """:data:`CHANGES` and :data:`CHANGES_FIGURE` from change rows, without a trainer (redrawn views)."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from knowloc.snapshots.changes import MEASURES, plot_changes

    table = pd.DataFrame(rows, columns=["i", "epoch", "step", "layer", *MEASURES]).sort_values(["i", "layer"], kind="stable")
    table.to_csv(CHANGES.at(run_dir), index=False)
    fig = plot_changes(rows)
    fig.savefig(CHANGES_FIGURE.at(run_dir), dpi=110)
    plt.close(fig)
    return [CHANGES.at(run_dir), CHANGES_FIGURE.at(run_dir)]


def results(rows: list[dict], n: int) -> dict:
    """``snapshots/n`` and each layer's last ``rel_dist_init``, ``cos_init``, ``sign_flip_init``."""
    out = {"snapshots/n": n}
    last = {}
    for r in rows:
        last[r["layer"]] = r
    for name, r in last.items():
        out.update({f"snapshots/{name}/{k}": r[k] for k in ("rel_dist_init", "cos_init", "sign_flip_init")})
    return out


def write(trainer, store, rows: list[dict], picture_layers: list[str], range_quantile: float, colour_scale: str,
          seconds_per_frame: float, change_curves: bool, log_artifact: bool) -> dict:
    """The end of a run with snapshots: the filter views of ``picture_layers`` (drawn in a thread),
    while :data:`CHANGES` and :data:`CHANGES_FIGURE` are written here from ``rows`` (when
    ``change_curves``); the results; the W&B media and artifact. Returns the results."""
    from concurrent.futures import ThreadPoolExecutor

    import pandas as pd

    from knowloc import artifacts
    from knowloc.snapshots import media
    from knowloc.snapshots.changes import MEASURES, plot_changes
    from knowloc.snapshots.views import draw_filters

    with ThreadPoolExecutor(1, thread_name_prefix="filter-views") as pool:
        pictures = pool.submit(draw_filters, store, range_quantile, colour_scale, seconds_per_frame,
                               picture_layers) if picture_layers else None
        if change_curves and rows:
            artifacts.save_table(trainer, CHANGES.key, pd.DataFrame(rows, columns=["i", "epoch", "step", "layer", *MEASURES]))
            artifacts.save_figure(trainer, CHANGES_FIGURE.key, plot_changes(rows), tight=False)
        if pictures is not None:
            media.log_pictures(trainer, store, pictures.result())
    out = results(rows, len(store))
    artifacts.log_results(trainer, out)
    if log_artifact:
        media.log_store(trainer, store)
    return out
