"""The knowloc command: help, composed config, one-line errors, multirun sweeps on three launchers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowloc.cli import main
from knowloc.records import find_runs
from wandb_records import summarize

ROOT = Path(__file__).resolve().parents[1]


def one_line_error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = [l for l in capsys.readouterr().err.splitlines() if l.strip()]
    assert len(err) == 1, err
    assert err[0].startswith("knowloc: error: ")
    return err[0]


@pytest.mark.parametrize("argv,must", [
    (["activation=swish"], ["activation='swish'", "relu", "sigmoid", "leaky_relu"]),
    (["model=resnet"], ["model='resnet'", "mlp", "lenet5"]),
    (["model.optimizer.momentom=0.5"], ["model.optimizer.momentom", "momentum"]),
    (["nonsense=1"], ["nonsense", "seed"]),
    (["trainer.max_epochs=ten"], ["trainer.max_epochs='ten'", "integer"]),
    (["seed=1.5"], ["seed=1.5", "integer"]),
    (["data.batch_size=0"], ["data.batch_size=0", ">= 1"]),
    (["data.scaling=log"], ["data.scaling='log'", "unit", "symmetric", "standard"]),
    (["model.optimizer.lr=-1"], ["model.optimizer.lr=-1", "> 0"]),
    (["-m", "activation=relu,swish", "seed=0,1"], ["activation='swish'"]),
    (["-m", "seed=0,-3"], ["seed=-3", ">= 0"]),
    (["seed=[1"], ["override"]),
])
def test_bad_input_is_one_line_naming_key_value_and_allowed(capsys, argv, must):
    line = one_line_error(capsys, argv)
    for m in must:
        assert m in line, line


def test_real_command_bad_input_no_traceback(knowloc_cli):
    p = knowloc_cli("activation=swish")
    assert p.returncode == 2
    assert "Traceback" not in p.stderr and p.stderr.strip().count("\n") == 0
    assert "activation='swish'" in p.stderr


def test_missing_data_root_one_line(knowloc_cli, tmp_path):
    p = knowloc_cli("data=mnist", f"paths.data_dir={tmp_path / 'nowhere'}", "logger=none")
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    err = [l for l in p.stderr.splitlines() if l.startswith("knowloc: error")]
    assert len(err) == 1 and "nowhere" in err[0] and "data.download=true" in err[0]


def test_help_lists_groups_and_options(knowloc_cli):
    p = knowloc_cli("--help")
    assert p.returncode == 0
    assert "activation: elu, gelu, identity, leaky_relu, relu, sigmoid, silu, softplus, tanh" in p.stdout
    groups = {l.split(":")[0]: l.split(": ")[1].split(", ") for l in p.stdout.splitlines()
              if l and not l.startswith(" ") and ": " in l}
    assert {"cifar10", "fashion_mnist", "mnist", "mnist_embedded"} <= set(groups["data"])
    assert {"mlp", "lenet5", "lenet_wss"} <= set(groups["model"])
    assert groups["logger"] == ["csv", "none", "wandb"]
    assert "knowloc compare" in p.stdout


def test_help_lists_every_rule_from_its_one_place(knowloc_cli):
    """``--help`` reads the allowed values from the rules the preflight checks (the platform's and
    each family's ``options.RULES``): every key appears with its text, under its family."""
    from knowloc import families
    from knowloc.validation import RULES

    p = knowloc_cli("--help")
    assert p.returncode == 0
    text = " ".join(p.stdout.split())  # the help wraps long texts
    for key, (_, allowed) in RULES.items():
        assert f"{key} {' '.join(allowed.split())}" in text, key
    for family in families.FAMILIES:
        mod = families.options(family)
        if mod is not None and getattr(mod, "RULES", None):
            assert f"[{family}]" in p.stdout


def test_cfg_job_prints_the_composed_config(knowloc_cli):
    import yaml

    p = knowloc_cli("--cfg", "job", "activation=gelu", "model.net.sizes=[784,32,10]")
    assert p.returncode == 0, p.stderr
    cfg = yaml.safe_load(p.stdout)
    assert cfg["activation"]["name"] == "gelu" and cfg["model"]["net"]["sizes"] == [784, 32, 10]


SWEEP = ["-m", "seed=0", "data.first_n=600", "trainer.max_epochs=1"]


def _check_sweep(folder: Path, n: int):
    runs = find_runs([folder])
    assert len(runs) == n
    ids, groups = set(), set()
    for run_dir, s in runs:
        assert s["status"] == "finished", s["error"]
        wb = summarize(s["wandb_dir"])
        assert Path(s["wandb_dir"]).parent.parent == run_dir  # the run's own W&B folder
        assert wb["exit_code"] == 0  # finished
        assert wb["config"]["activation"]["name"] == s["choices"]["activation"]
        ids.add(wb["run_id"])
        groups.add(wb["group"])
    assert len(ids) == n  # one W&B run per job
    assert len(groups) == 1 and next(iter(groups)).startswith("sweep-")


@pytest.mark.parametrize("launcher", ["basic", "joblib", "submitit_local"])
def test_multirun_each_job_its_own_finished_wandb_run(knowloc_cli, tmp_path, launcher):
    # joblib: 3 jobs on 2 workers, so one worker process runs two jobs (a leak would show there)
    extra = {"basic": ["activation=relu,sigmoid"], "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "activation=relu,sigmoid,tanh"],
             "submitit_local": ["activation=relu,sigmoid", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"]}[launcher]
    out = tmp_path / "sweep"
    p = knowloc_cli(*SWEEP, *extra, f"hydra.sweep.dir={out}")
    assert p.returncode == 0, p.stderr[-3000:]
    _check_sweep(out, 3 if launcher == "joblib" else 2)


def test_diverging_job_fails_with_status_3_and_the_sweep_goes_on(knowloc_cli, tmp_path):
    out = tmp_path / "sweep"
    p = knowloc_cli("-m", "seed=0,1", "data.first_n=600", "trainer.max_epochs=1", "logger=csv",
                    "+callbacks.fault._target_=faults.PoisonAt", "+callbacks.fault.step=3",
                    f"hydra.sweep.dir={out}", env={"PYTHONPATH": str(ROOT / "tests")})
    assert p.returncode == 3
    assert "training diverged at step 3" in p.stderr and "train/loss = nan" in p.stderr
    assert "Traceback" not in p.stderr
    runs = find_runs([out])
    assert [s["status"] for _, s in runs] == ["failed", "failed"]  # both jobs ran


def test_sweep_config_files_compose():
    from knowloc.preflight import preflight

    preflight(["-m", "--config-dir", str(ROOT / "sweeps"), "--config-name", "activations_seeds"])
    import yaml

    wb = yaml.safe_load((ROOT / "sweeps" / "wandb_activations_seeds.yaml").read_text())
    grid = [f"{k}={v['values'][0]}" for k, v in wb["parameters"].items()]
    preflight(grid)  # the W&B agent's ${args_no_hyphens} are valid overrides
