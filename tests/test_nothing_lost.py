"""Issue 11: nothing lost, nothing silently wrong. Each bad input gives exit 2 and one line naming
what is wrong, before anything runs (no run folder); resume keeps rows and the W&B run."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest

from knowloc import train
from knowloc.cli import main

ROOT = Path(__file__).resolve().parents[1]
FAST = ["data.first_n=1500", "trainer.max_epochs=3", "threads=1", "trainer.enable_progress_bar=false"]


def one_line_error(capsys, argv) -> str:
    """Run ``knowloc argv`` in this process; it must exit 2 with exactly one line on stderr."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("knowloc: error: "), err
    return err[0]


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# -- silently wrong ---------------------------------------------------------------------------------

def test_unknown_experiment_names_the_experiments_closest_first(capsys, tmp_path):
    line = one_line_error(capsys, ["experiment=localisation", f"hydra.run.dir={tmp_path / 'run'}"])
    assert "experiment='localisation' is not allowed" in line
    names = line.split("expected one of ")[1].split(", ")
    assert names[0] == "localization" and {"default", "ablation", "snapshots"} <= set(names)
    line = one_line_error(capsys, ["-m", "seed=0", "experiment=default,nope"])  # each swept value
    assert "experiment='nope'" in line
    assert not (tmp_path / "run").exists()
    from knowloc.preflight import preflight

    for name in ("localization_activations", "freeze_embedded"):  # experiments chosen by a sweep config
        preflight(["-m", "--config-dir", str(ROOT / "sweeps"), "--config-name", name])


@pytest.mark.parametrize("override, key", [
    ("data.classes=[[1],[99]]", "data.classes=[[1], [99]]"),  # not a class of the data set
    ("data.classes=[[],[1]]", "data.classes=[[], [1]]"),  # an empty super-class
    ("data.classes=[3]", "data.classes=[3]"),  # a one-class problem
    ("data.classes=abc", "data.classes='abc'"),
    ("trainer.max_epochs=0", "trainer.max_epochs=0"),  # would test the untrained net
])
def test_invalid_classes_and_zero_epochs_refused(capsys, tmp_path, override, key):
    line = one_line_error(capsys, [override, f"hydra.run.dir={tmp_path / 'run'}"])
    assert line.startswith(f"knowloc: error: {key} is not allowed; expected ")
    assert not (tmp_path / "run").exists()


def test_class_left_empty_by_first_n_fails_before_training(capsys, tmp_path):
    from knowloc.data.sources import load_source

    labels = load_source("mnist_embedded").labels
    first_n = 30
    absent = sorted(set(range(10)) - set(labels[:first_n].tolist()))
    present = labels[0].item()
    assert absent, "the first 30 samples hold every class: choose a smaller first_n"
    line = one_line_error(capsys, [f"data.first_n={first_n}", f"data.classes=[{present},{absent[0]}]",
                                   f"hydra.run.dir={tmp_path / 'run'}"])
    assert f"none for [[{absent[0]}]]" in line and line.startswith("knowloc: error: data.classes=")
    assert not (tmp_path / "run").exists()  # nothing ran: no record, no W&B run


def test_layer_typo_caught_before_training_and_before_any_wandb_run(capsys, tmp_path):
    line = one_line_error(capsys, ["experiment=neuron_stats", "callbacks.neuron_stats.layers=[act9]",
                                   f"hydra.run.dir={tmp_path / 'run'}"])
    assert "callbacks.neuron_stats.layers='act9' is not allowed; expected one of conv1, act1" in line
    assert not (tmp_path / "run").exists()  # no wandb/ folder either


# -- one line, never a traceback ----------------------------------------------------------------------

def test_unwritable_output_folder_is_one_line(capsys, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    line = one_line_error(capsys, [f"hydra.run.dir={a_file}/run"])
    assert f"hydra.run.dir='{a_file}/run' is not allowed; expected a folder that can be written" in line
    line = one_line_error(capsys, ["hydra.run.dir=/proc/x"])
    assert "hydra.run.dir='/proc/x'" in line
    line = one_line_error(capsys, ["-m", "seed=0,1", "hydra.sweep.dir=/proc/x"])
    assert "hydra.sweep.dir='/proc/x'" in line


def test_damaged_checkpoint_is_one_line_and_leaves_no_run_folder(capsys, tmp_path):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint at all" * 10)
    line = one_line_error(capsys, [f"resume={bad}", "logger=none", f"hydra.run.dir={tmp_path / 'run'}"])
    assert f"{bad} is not a readable checkpoint" in line and "weights_only" not in line
    assert not (tmp_path / "run").exists()


# -- nothing lost: Ctrl-C, resume, a finished run -----------------------------------------------------

def test_ctrl_c_then_resume_keeps_rows_and_the_wandb_run(knowloc_cli, tmp_path):
    """Ctrl-C at step 30 (epoch 1: 1500 samples give < 30 batches an epoch), resume from the
    checkpoint of epoch 0."""
    run = tmp_path / "run"
    env = {"PYTHONPATH": str(ROOT / "tests")}
    args = FAST + ["trainer.log_every_n_steps=1", f"hydra.run.dir={run}"]
    cut = knowloc_cli(*args, "+callbacks.fault._target_=faults.InterruptAt", "+callbacks.fault.step=30", env=env)
    assert cut.returncode == 130, cut.stderr
    err = [line for line in cut.stderr.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert err[0].startswith(f"knowloc: interrupted at epoch 1, step 30; run folder {run}; resume with: ")
    assert err[0].endswith(f"hydra.run.dir={run} resume=true")
    before = json.loads((run / "summary.json").read_text())
    assert before["status"] == "interrupted" and before["wandb_id"]
    batches = -(-before["data"]["n_train"] // 64)  # an epoch's steps: the checkpoint's step
    assert batches < 30
    rows_before = rows(run / "metrics" / "metrics.csv")
    kept = [r for r in rows_before if int(r["step"]) < batches]
    assert len(rows_before) > len(kept) > 0

    done = knowloc_cli(*args, "resume=true", env=env)
    assert done.returncode == 0, done.stderr
    after = json.loads((run / "summary.json").read_text())
    assert after["status"] == "finished"
    assert after["wandb_id"] == before["wandb_id"]  # the same W&B run, resumed
    assert {p.name.rsplit("-", 1)[1] for p in (run / "wandb").glob("offline-run-*")} == {before["wandb_id"]}
    rows_after = rows(run / "metrics" / "metrics.csv")
    assert rows_after[:len(kept)] == [{**{k: "" for k in rows_after[0]}, **r} for r in kept]
    train_steps = [int(r["step"]) for r in rows_after if r["train/loss_step"]]
    assert train_steps == list(range(3 * batches))  # every step once: none lost, none twice
    assert sum(1 for r in rows_after if r["val/acc"]) == 3

    # a finished run is refused, and its record and rows stay as they were
    again = knowloc_cli(*args, "resume=true", env=env)
    assert again.returncode == 2
    err = [line for line in again.stderr.splitlines() if line.strip()]
    assert len(err) == 1 and "already finished" in err[0] and "nothing to resume" in err[0], err
    assert rows(run / "metrics" / "metrics.csv") == rows_after
    assert json.loads((run / "summary.json").read_text()) == after


def test_divergence_message_printed_once(capsys, tmp_path):
    train.FAILED_JOBS.clear()
    with pytest.raises(SystemExit) as e:
        main(["data.first_n=600", "trainer.max_epochs=1", "threads=1", "logger=none",
              "trainer.enable_progress_bar=false", "trainer.log_every_n_steps=1",
              "+callbacks.fault._target_=faults.PoisonAt", "+callbacks.fault.step=3",
              f"hydra.run.dir={tmp_path / 'run'}"])
    train.FAILED_JOBS.clear()
    assert e.value.code == 3
    out = capsys.readouterr()
    said = [line for line in (out.err + out.out).splitlines() if "diverged" in line]
    assert len(said) == 1 and "step 3" in said[0] and "train/loss = nan" in said[0], said
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "failed"


# -- W&B ----------------------------------------------------------------------------------------------

def test_table_and_figure_of_one_name_get_distinct_wandb_keys(tmp_path):
    import lightning as L
    import matplotlib
    import pandas as pd

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from knowloc import artifacts
    from knowloc.neurons import artefacts
    from knowloc.tracking import finish_wandb, wandb_logger
    from wandb_records import records

    trainer = L.Trainer(logger=wandb_logger(str(tmp_path)), default_root_dir=str(tmp_path),
                        enable_progress_bar=False, enable_model_summary=False)
    name = artefacts.key(artefacts.ANOMALIES, "act3")  # a table and a figure of one name, as NeuronStats writes
    assert name == artefacts.key(artefacts.ANOMALY_FIGURE, "act3")
    artifacts.save_table(trainer, name, pd.DataFrame({"unit": [1, 2], "score": [0.5, 0.25]}))
    artifacts.save_figure(trainer, name, plt.figure())
    folder = finish_wandb()
    (wb_file,) = Path(folder).glob("run-*.wandb")
    kinds: dict = {}
    for _ in range(60):  # W&B's service writes the file's last records just after finish returns
        recs = records(wb_file)
        if any(r.WhichOneof("record_type") == "exit" for r in recs):
            break
        time.sleep(0.5)
    for r in recs:
        if r.WhichOneof("record_type") == "history":
            for item in r.history.item:
                path = list(item.nested_key) or [item.key]
                if path[-1] == "_type":
                    kinds[path[0]] = json.loads(item.value_json)
    assert kinds[artifacts.table_key(name)] == "table-file"
    assert kinds[name] == "image-file"
    assert artefacts.ANOMALIES.exists(tmp_path, layer="act3") and artefacts.ANOMALY_FIGURE.exists(tmp_path, layer="act3")


def test_wandb_config_holds_choices_and_overrides_and_tags(run_job, tmp_path):
    from wandb_records import records

    rec = run_job(["data.first_n=300", "trainer.max_epochs=1", "threads=1", "activation=tanh"])
    assert rec["status"] == "finished"
    (wb_file,) = Path(rec["wandb_dir"]).glob("run-*.wandb")
    config, tags = {}, None
    for r in records(wb_file):
        kind = r.WhichOneof("record_type")
        if kind in ("run", "config"):
            items = r.run.config.update if kind == "run" else r.config.update
            config.update({i.key: json.loads(i.value_json) for i in items})
            if kind == "run":
                tags = list(r.run.tags)
    assert config["choices"]["activation"] == "tanh" and config["choices"]["model"] == "mlp"
    assert "activation=tanh" in config["overrides"] and "data.first_n=300" in config["overrides"]
    assert tags == ["default"]


def test_every_experiment_sets_tags():
    from knowloc.api import compose
    from knowloc.resolvers import experiment_descriptions

    for name in experiment_descriptions():
        assert list(compose([f"experiment={name}"]).tags), name
    assert list(compose([]).tags) == ["default"]


# -- help and README ----------------------------------------------------------------------------------

def test_help_describes_every_experiment(knowloc_cli):
    from knowloc.resolvers import experiment_descriptions

    p = knowloc_cli("--help")
    assert p.returncode == 0
    section = p.stdout.split("== Experiments ==")[1].split("== Config ==")[0]
    for name, text in experiment_descriptions().items():
        assert f"  {name} " in section and len(text) > 20, name
    assert "hierarchical equality" in section


def test_readme_commands_run_from_the_venv():
    """``make run`` installs into .venv, which is not on PATH: README commands say .venv/bin/knowloc."""
    bare = []
    in_code = False
    lang = ""
    for n, line in enumerate((ROOT / "README.md").read_text().splitlines(), 1):
        if line.strip().startswith("```"):
            in_code, lang = not in_code, line.strip()[3:]
        elif in_code and lang in ("", "bash", "sh", "shell") and line.strip().split(" ", 1)[0] in ("knowloc", "$knowloc"):
            bare.append(f"{n}: {line.strip()}")
    assert not bare, bare
