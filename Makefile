# knowloc: two commands do all set-up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
export WANDB_MODE ?= offline

.PHONY: install browser slurm run test bench results clean

# Install once; again only when pyproject.toml or constraints.txt change.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=24" "setuptools>=68" wheel
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/knowloc

# The explorer's browser tests drive Debian's headless Chromium (never a browser Playwright downloads).
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  echo "installing Debian's chromium for the explorer's browser tests"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

# The Slurm tests start a single-node Slurm 22.05 (munged, slurmctld, slurmd) from Debian's packages.
slurm:
	@test -x /usr/sbin/slurmctld && test -x /usr/sbin/slurmd && test -x /usr/sbin/munged && command -v sbatch >/dev/null || { \
	  echo "installing Debian's slurm-wlm and munge for the Slurm tests"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq slurm-wlm munge; }

test: install browser slurm
	$(PY) -m pytest -q -rs

$(BENCH_STAMP): $(STAMP) constraints-bench.txt
	$(PY) -m pip install -q -c constraints.txt -c constraints-bench.txt -e '.[dev,bench]'
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) bench/run.py
	$(PY) -m pytest -q -m slow

# Every README result block, regenerated from runs (not part of `make test`; takes long at full scale).
#   make results [FAMILY=localization] [RESULTS_SEEDS=2]
results: install
	FAMILY="$(FAMILY)" RESULTS_SEEDS="$(RESULTS_SEEDS)" $(PY) -m knowloc.results

clean:
	rm -rf $(VENV) outputs multirun bench/results.json
