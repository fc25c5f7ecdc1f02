"""Run experiments from Python (notebooks, tests) exactly as the CLI would, without a subprocess.

>>> from knowloc.api import run
>>> record = run(["experiment=localization", "seed=1"], output_dir="outputs/nb")
>>> record["metrics"]["test/acc"]
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from omegaconf import DictConfig, open_dict

CONFIG_MODULE = "knowloc.conf"


def compose(overrides: Sequence[str] = (), output_dir: str | Path | None = None,
            config_name: str = "config") -> DictConfig:
    """The composed job config (without the ``hydra`` node) for ``overrides``; Hydra's runtime
    config is installed so that ``${hydra:...}`` and ``HydraConfig.get()`` work as in a CLI run."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    GlobalHydra.instance().clear()
    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        cfg = hydra_compose(config_name, overrides=list(overrides), return_hydra_config=True)
    if output_dir is not None:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(Path(output_dir).resolve())
            cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def run(overrides: Sequence[str] = (), output_dir: str | Path = "outputs/api") -> dict:
    """Compose and run one job in this process; returns its record (``summary.json``)."""
    from knowloc.train import run as run_job

    return run_job(compose(overrides, output_dir))
