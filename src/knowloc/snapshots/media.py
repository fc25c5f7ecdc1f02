"""What a run with snapshots sends to W&B besides metrics (nothing when W&B is off):

* the W_t picture of each conv layer at every snapshot, under ``snapshots/filters/<layer>``, each
  at its snapshot's step (``trainer/global_step``);
* the last change pictures under ``snapshots/filters/<layer>_from_init`` / ``_from_prev``, and the
  GIFs under ``snapshots/filters/<layer>_animation`` / ``<layer>_from_init_animation``;
* the snapshots folder as an artifact ``snapshots-<run id>`` of type ``snapshots`` (metadata:
  dtype, layers, n, epochs, steps).
"""

from __future__ import annotations

from knowloc.tracking import wandb_run_of


def log_pictures(trainer, store, drawn: dict) -> None:
    """W&B: each weight picture at its snapshot's step; the last change pictures and the GIFs
    (``drawn``: :func:`knowloc.snapshots.views.draw_filters`)."""
    run = wandb_run_of(trainer)
    if run is None:
        return
    import wandb

    entries = store.entries
    for layer, d in drawn.items():
        v = d["views"]["weights"]
        for e, path, lines in zip(entries, v["frames"], v["captions"]):
            run.log({f"snapshots/filters/{layer}": wandb.Image(str(path), caption="; ".join(lines)),
                     "trainer/global_step": e["step"]})
        last = {"trainer/global_step": entries[-1]["step"]}
        for view, v in d["views"].items():
            suffix = "" if view == "weights" else f"_{view}"
            if view != "weights":
                last[f"snapshots/filters/{layer}{suffix}"] = wandb.Image(str(v["frames"][-1]),
                                                                         caption="; ".join(v["captions"][-1]))
            if v["gif"] is not None:
                last[f"snapshots/filters/{layer}{suffix}_animation"] = wandb.Video(str(v["gif"]), format="gif")
        run.log(last)


def log_store(trainer, store) -> None:
    """The snapshots folder as a W&B artifact of type ``snapshots``."""
    run = wandb_run_of(trainer)
    if run is None:
        return
    import wandb

    art = wandb.Artifact(f"snapshots-{run.id}", type="snapshots",
                         metadata={"dtype": store.index["dtype"], "layers": store.index["layers"],
                                   "n": len(store), "epochs": store.epochs, "steps": store.steps})
    art.add_dir(str(store.dir), policy="immutable")  # no staging copy: the run's files are final
    run.log_artifact(art)
