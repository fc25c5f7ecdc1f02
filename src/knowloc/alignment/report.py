"""Tables, plot and scalar results of an alignment search; the files and result names they go to
are declared in :mod:`knowloc.alignment.artefacts` (which writes them)."""

from __future__ import annotations

import math

from knowloc.alignment.artefacts import NETWORK_TEST_ACC, RESTARTS_RESULT, SELECT_RESULT, result_name

COLUMNS = ["layer", "size", "variable", "method", "iia_all", "iia_changed", "train_iia", "restart",
           "n_pairs", "n_changed"]
RESTART_COLUMNS = ["layer", "size", "variable", "method", "restart", "selected", "train_iia", "iia_all", "iia_changed"]
METHOD_ORDER = ["das", "das_joint", "das_linear", "das_linear_joint", "identity", "random", "das_random_start",
                "das_linear_random_start"]


def tables(rows: list[dict]):
    """(selected, restarts): the selected entry of every (layer, size, variable, method) with
    :data:`COLUMNS` (+ ``neurons, search`` of the identity baseline), and every restart of the learned
    maps (``das``, ``das_linear``) with :data:`RESTART_COLUMNS`."""
    import pandas as pd

    df = pd.DataFrame(rows)
    every = df.sort_values(["layer", "size", "variable", "method", "restart"]).reset_index(drop=True)
    sel = every[every["selected"]].drop(columns=["selected"])
    extra = [c for c in ("neurons", "search") if c in sel.columns]
    table = sel[COLUMNS + extra].reset_index(drop=True)
    rs = every[every["method"].isin(["das", "das_linear"])]
    return table, rs[RESTART_COLUMNS].reset_index(drop=True)


def results(table, info: dict, restarts: int, select: str) -> dict:
    """Scalar results of the selected table (names: :func:`~knowloc.alignment.artefacts.result_name`)."""
    out = {RESTARTS_RESULT: restarts, SELECT_RESULT: select}
    if info.get("test_acc") is not None:
        out[NETWORK_TEST_ACC] = float(info["test_acc"])
    for _, r in table.iterrows():
        for measure, col in (("iia", "iia_all"), ("iia_changed", "iia_changed")):
            out[result_name(r["method"], measure, r["layer"], r["size"], r["variable"])] = float(r[col])
        if r["method"] == "das" and r["train_iia"] is not None and not _nan(r["train_iia"]):
            out[result_name("das", "train_iia", r["layer"], r["size"], r["variable"])] = float(r["train_iia"])
    return out


def _nan(v) -> bool:
    try:
        return math.isnan(float(v))
    except (TypeError, ValueError):
        return True


def iia_figure(table):
    """IIA vs subspace size, one column per layer; top: all pairs, bottom: label-changing pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = sorted(table["layer"].unique())
    fig, axes = plt.subplots(2, len(layers), figsize=(4.2 * len(layers), 6.4), squeeze=False, sharey="row")
    colors = dict(zip(METHOD_ORDER, ["C0", "C9", "C2", "C8", "C3", "C7", "C1", "C4"]))
    styles = {"ab": "-", "cd": "--", "both": ":"}
    markers = {"ab": "o", "cd": "s", "both": "^"}
    for j, layer in enumerate(layers):
        t = table[table["layer"] == layer]
        for i, col in enumerate(("iia_all", "iia_changed")):
            ax = axes[i][j]
            for (method, var), g in t.groupby(["method", "variable"]):
                if "_joint" in method:
                    continue
                g = g.sort_values("size")
                ax.plot(g["size"], g[col], styles.get(var, "-"), marker=markers.get(var, "o"),
                        color=colors.get(method, "k"), label=f"{method} {var}")
            ax.set_xscale("log", base=2)
            ax.set_xticks(sorted(t["size"].unique()), [str(s) for s in sorted(t["size"].unique())])
            ax.set_ylim(-0.02, 1.02)
            ax.axhline(0.5 if col == "iia_all" else 0.0, color="0.6", lw=0.8)
            ax.set_title(f"layer {layer}: " + ("all pairs" if col == "iia_all" else "label-changing pairs"))
            ax.set_xlabel("subspace size k")
            if j == 0:
                ax.set_ylabel("IIA")
    axes[0][-1].legend(fontsize=7, loc="lower right", ncol=2)
    fig.tight_layout()
    return fig


def log_table(table) -> None:
    """Log the label-changing IIA of the main methods, layer x size by method x variable."""
    main = table[table["method"].isin(["das", "das_random_start", "identity", "random", "das_linear"])]
    piv = main.pivot_table(index=["layer", "size"], columns=["method", "variable"], values="iia_changed")
    import logging

    logging.getLogger("knowloc").info("alignment search, IIA on label-changing held-out pairs:\n%s",
                                      piv.round(3).to_string())
