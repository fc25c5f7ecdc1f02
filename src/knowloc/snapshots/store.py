"""``SnapshotStore``: an append-only archive of layer weights over training, in a run folder.

Layout (``<run>/snapshots/``)::

    index.json        {"format": 1, "dtype": "float32", "layers": {"conv1": {"weight": [20, 1, 5, 5], ...}},
                       "snapshots": [{"i": 0, "epoch": 0.0, "step": 0, "tag": "init",
                                      "file": "0000.safetensors"}, ...]}
    0000.safetensors  one file per snapshot; tensors named "<layer>.<param>" ("conv1.weight", "conv1.bias")
    0001.safetensors  ...

Each snapshot is written to disk when it is taken and never held in memory, so memory stays flat
whatever the number of snapshots. ``index.json`` is rewritten atomically after each file, so a
reader (or a resumed run) never sees an entry whose file is missing. ``epoch`` is the number of
completed epochs (fractional for step snapshots), ``step`` the optimizer step (``global_step``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator, Mapping

import torch

from knowloc.snapshots import artefacts, options

FORMAT = 1
FOLDER = artefacts.FOLDER
#: file names inside the snapshots folder (the index entries name the snapshot files relative to it)
INDEX = Path(artefacts.INDEX.path).name
DTYPES = {name: getattr(torch, name) for name in options.DTYPES}


def snapshot_dir(run_dir: str | Path) -> Path:
    """``<run>/snapshots`` (accepts the snapshots folder itself too)."""
    p = Path(run_dir)
    return p if (p / INDEX).exists() and p.name == FOLDER else artefacts.INDEX.at(p).parent


class SnapshotStore:
    """Read and append snapshots of a run.

    >>> store = SnapshotStore("outputs/runs/2026-..._snapshots")
    >>> len(store), store.layers, store.epochs
    >>> w = store.load(3, "conv1")            # conv1.weight at snapshot 3 (float32)
    >>> b = store.load(3, "conv1", "bias")
    """

    def __init__(self, run_dir: str | Path, dtype: str = "float32", create: bool = False):
        self.dir = snapshot_dir(run_dir)
        self.run_dir = self.dir.parent
        path = self.dir / INDEX
        if path.exists():
            self.index = json.loads(path.read_text())
        elif create:
            options.check_snapshots(dtype=dtype)
            self.dir.mkdir(parents=True, exist_ok=True)
            self.index = {"format": FORMAT, "dtype": dtype, "layers": {}, "snapshots": []}
        else:
            from knowloc.errors import UserError

            raise UserError(f"no weight snapshots in {run_dir} (expected {path}); "
                            "run with experiment=snapshots or the WeightSnapshots callback")

    # -- reading ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.index["snapshots"])

    @property
    def entries(self) -> list[dict]:
        return list(self.index["snapshots"])

    @property
    def layers(self) -> list[str]:
        return list(self.index["layers"])

    @property
    def epochs(self) -> list[float]:
        return [e["epoch"] for e in self.index["snapshots"]]

    @property
    def steps(self) -> list[int]:
        return [e["step"] for e in self.index["snapshots"]]

    def _entry(self, i: int) -> dict:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"snapshot {i} out of range: this run has {n} snapshots (0..{n - 1})")
        return self.index["snapshots"][i]

    def load(self, i: int, layer: str, param: str = "weight", dtype: torch.dtype | None = torch.float32) -> torch.Tensor:
        """The tensor ``<layer>.<param>`` at snapshot ``i`` (negative counts from the end), as
        ``dtype`` (None: as stored). Reads only that tensor from the file."""
        from safetensors import safe_open

        if layer not in self.index["layers"]:
            raise KeyError(f"layer {layer!r} not in the snapshots; stored layers: {', '.join(self.layers)}")
        if param not in self.index["layers"][layer]:
            raise KeyError(f"{layer}.{param} not stored; stored: {', '.join(self.index['layers'][layer])}")
        with safe_open(str(self.dir / self._entry(i)["file"]), framework="pt") as f:
            t = f.get_tensor(f"{layer}.{param}")
        return t if dtype is None else t.to(dtype)

    def load_all(self, i: int, dtype: torch.dtype | None = torch.float32) -> dict[str, torch.Tensor]:
        """Every tensor of snapshot ``i`` as ``{"conv1.weight": ..., ...}``."""
        from safetensors.torch import load_file

        out = load_file(str(self.dir / self._entry(i)["file"]))
        return out if dtype is None else {k: v.to(dtype) for k, v in out.items()}

    def series(self, layer: str, param: str = "weight") -> Iterator[tuple[dict, torch.Tensor]]:
        """``(entry, tensor)`` for every snapshot in order, one at a time."""
        for i, e in enumerate(self.index["snapshots"]):
            yield e, self.load(i, layer, param)

    # -- writing ------------------------------------------------------------------------------
    def append(self, tensors: Mapping[str, torch.Tensor], epoch: float, step: int, tag: str = "") -> dict:
        """Write one snapshot (``{"conv1.weight": tensor, ...}``) and its index entry."""
        from safetensors.torch import save_file

        dtype = DTYPES[self.index["dtype"]]
        i = len(self)
        name = artefacts.SNAPSHOT.at(self.run_dir, i=i).name
        data = {k: v.detach().to("cpu", dtype).contiguous() for k, v in tensors.items()}
        layers = self.index["layers"]
        for key, t in data.items():
            layer, _, param = key.rpartition(".")
            layers.setdefault(layer, {})[param] = list(t.shape)
        tmp = self.dir / (name + ".tmp")
        save_file(data, str(tmp), metadata={"epoch": str(epoch), "step": str(step), "tag": tag})
        os.replace(tmp, self.dir / name)
        entry = {"i": i, "epoch": float(epoch), "step": int(step), "tag": tag, "file": name}
        self.index["snapshots"].append(entry)
        self._write_index()
        return entry

    def truncate(self, n: int) -> None:
        """Keep the first ``n`` snapshots (a run resumed from an earlier checkpoint)."""
        for e in self.index["snapshots"][n:]:
            (self.dir / e["file"]).unlink(missing_ok=True)
        del self.index["snapshots"][n:]
        self._write_index()

    def _write_index(self) -> None:
        tmp = self.dir / (INDEX + ".tmp")
        tmp.write_text(json.dumps(self.index, indent=1))
        os.replace(tmp, self.dir / INDEX)


def load_snapshot(run_dir: str | Path, layer: str, i: int, param: str = "weight") -> torch.Tensor:
    """The weight (or ``param``) tensor of ``layer`` at snapshot ``i`` of a run, as float32."""
    return SnapshotStore(run_dir).load(i, layer, param)
