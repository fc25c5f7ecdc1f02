#!/usr/bin/env bash
# The GPU check of issue 15, in one short run (< 8 minutes on one H100/H200):
#   1. install knowloc with --no-deps (into /tmp/knowloc-site, nothing else is touched),
#   2. `pytest -m gpu`: every experiment with trainer.accelerator=cpu and =gpu, results compared
#      within each family's tolerance (tests/test_gpu_experiments.py), and the device tests on cuda,
#   3. the GPU bench (bench/bench_gpu.py: engine model-steps/s by number of models, Lightning with
#      batch size 1 on the same GPU, ratio, device name), logger=csv,
# writing everything to $OUT (default ./gpu-check): nvidia-smi.txt, gpu_tests.log, gpu_tests.xml,
# gpu_bench.log, gpu_bench.json (the GPU entries of bench/results.json).
#
# The machine needs torch, Lightning, numpy, scipy, pandas, matplotlib, pytest, PyYAML (a GPU image
# usually has them) but no network. Hydra, OmegaConf and W&B are usually missing: bring wheels of
# hydra-core and omegaconf (pure Python, any platform) and of antlr4-python3-runtime 4.9.3 (it has
# no binary wheel: build one with `pip wheel`). On a machine with network, in the repo root:
#     echo /.whl/ >> .git/info/exclude
#     python3 -m pip download --no-deps -d .whl hydra-core==1.3.2 omegaconf==2.3.0
#     python3 -m pip wheel --no-deps -w .whl antlr4-python3-runtime==4.9.3
# copy .whl with the checkout (WHEELS=path to use another folder), then: bash bench/gpu_check.sh
# W&B is not needed: every job here runs with logger=csv.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-check}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
WHEELS=${WHEELS:-.whl}
SITE=${SITE:-/tmp/knowloc-site}
export PYTHONUNBUFFERED=1 WANDB_MODE=offline MPLBACKEND=Agg KNOWLOC_OUTPUTS=/tmp/knowloc-gpu-outputs
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
start=$(date +%s)

nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true
if ! $PY -c "import hydra, omegaconf" 2>/dev/null; then
  ls "$WHEELS"/*.whl >/dev/null 2>&1 || { echo "gpu_check: no Hydra/OmegaConf here and no wheels in $WHEELS (see the header)"; exit 2; }
  $PY -m pip install -q --no-index --no-deps --no-compile --target "$SITE" "$WHEELS"/*.whl || exit 2
fi
$PY -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target "$SITE" . || exit 2
$PY -c "import torch, knowloc; print('knowloc', knowloc.__file__, 'torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" | tee "$OUT/gpu_tests.log"

# 2. the GPU tests (at most 5 minutes)
timeout 300 $PY -m pytest -m gpu -q -rs --durations=15 -p no:cacheprovider --junitxml="$OUT/gpu_tests.xml" tests \
  2>&1 | tee -a "$OUT/gpu_tests.log"
tests_rc=${PIPESTATUS[0]}
echo "pytest -m gpu: exit $tests_rc after $(( $(date +%s) - start )) s" | tee -a "$OUT/gpu_tests.log"

# 3. the GPU bench (at most 2.5 minutes), merged into bench/results.json like `make bench`
timeout 150 $PY bench/run.py gpu 2>&1 | tee "$OUT/gpu_bench.log"
bench_rc=${PIPESTATUS[0]}
$PY - "$OUT/gpu_bench.json" <<'EOF'
import json, sys
res = json.load(open("bench/results.json"))
json.dump({k: v for k, v in res.items() if k.startswith("gpu_")}, open(sys.argv[1], "w"), indent=2)
EOF
echo "gpu_check: tests exit $tests_rc, bench exit $bench_rc, $(( $(date +%s) - start )) s in all" | tee -a "$OUT/gpu_bench.log"
exit $(( tests_rc != 0 || bench_rc != 0 ))
