"""The wheel carries the configs, the callbacks and the embedded data; every package is listed."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"knowloc." + ".".join(p.parent.relative_to(ROOT / "src" / "knowloc").parts)
             for p in (ROOT / "src" / "knowloc").rglob("__init__.py")}
    found = {f.rstrip(".") for f in found} | {"knowloc.callbacks", "knowloc.conf"}
    assert found <= listed, found - listed


def test_wheel_contains_configs_callbacks_and_data(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("knowloc-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for must in ["knowloc/conf/config.yaml", "knowloc/conf/activation/sigmoid.yaml",
                 "knowloc/conf/hydra/launcher/slurm.yaml", "knowloc/callbacks/__init__.py",
                 "knowloc/callbacks/divergence.py", "knowloc/mnist5k.npz", "knowloc/cli.py"]:
        assert must in names, must
    yamls = {str(p.relative_to(ROOT / "conf")) for p in (ROOT / "conf").rglob("*.yaml")}
    assert {"knowloc/conf/" + y for y in yamls} <= names
