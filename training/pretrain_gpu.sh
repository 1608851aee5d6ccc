#!/bin/sh
# Pretraining on a GPU machine: the encoder variants worth comparing, side by side on one GPU,
# each for the same wall-clock budget, then one table of what each reached.
#
#   sh training/pretrain_gpu.sh [MINUTES [OUT_DIR [--set KEY=VALUE ...]]]   (defaults: 7.5, runs/gpu)
#
# The --set overrides go to every variant (a quick check on a CPU: 0.2 runs/gpu-check
# --set batch_size=8).
# Run from the repository root, with the pack beside it (runs/packed/corpus.npz, written here by
# `mzie pretrain-pack --config configs/pretrain-gpu.yaml`; PACK=path names another) and
# PYTHON=interpreter if it is not python3. The machine needs only Python with
# torch, transformers, numpy, pyyaml and matplotlib: the project need not be installed, since its
# folders are linked into a temporary import path, and nothing under models/ is read.
#
# The variants (configs/pretrain-gpu.yaml, from scratch, the same seed and budget):
#   small-domain  scratch:small on the government-domain text alone
#   small-all     scratch:small on the domain text and the laws
#   small6-all    scratch:small6 (6 layers, 1.5x the fine-tuning time) on both
# Three processes share the GPU, so each sees about a third of it: the comparison is fair, and a
# single run on the winner's recipe would see three times the tokens in the same minutes.
#
# If any run fails in its first 90 seconds (an import, the pack, a missing GPU kernel), all are
# stopped and its log is printed, so a broken setup costs a minute and a half, not the budget.
# Each run's folder holds the encoder in float16 safetensors shards of at most 15 MB, its curve
# (pretrain_curve.json/.png), pretrain_summary.json and its log; checkpoints for --resume stay
# in <run>/checkpoint.
set -u
MINUTES=${1:-7.5}
OUT=${2:-runs/gpu}
[ $# -ge 2 ] && shift 2 || shift $#
PYTHON=${PYTHON:-python3}
PACK=${PACK:-runs/packed/corpus.npz}
DOMAIN='sources=[gwr_national_1954_2024.jsonl.gz,gwr_provincial_2025.jsonl.gz,cpc_congress_reports.jsonl.gz,stat_bulletins_a23.jsonl.gz,crud_news_2023_govrelated.jsonl.gz]'

[ -f "$PACK" ] || { echo "no $PACK: run 'mzie pretrain-pack --config configs/pretrain-gpu.yaml' first and copy it here" >&2; exit 2; }
mkdir -p "$OUT"
if ! $PYTHON -c 'import minzheng_ie.core.cli' 2>/dev/null; then
    SITE=$(mktemp -d)
    mkdir "$SITE/minzheng_ie"
    for d in core training annotation inference eval configs; do ln -s "$PWD/$d" "$SITE/minzheng_ie/$d"; done
    PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
    export PYTHONPATH
fi
export PYTHONUNBUFFERED=1
$PYTHON -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__,
"cuda", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (runs on the CPU)")'

run() {  # run NAME OVERRIDE: one variant, its log and exit status beside its folder
    name=$1; variant=$2; shift 2
    $PYTHON -c 'import sys; from minzheng_ie.core.cli import main; sys.exit(main())' \
        pretrain-packed --config configs/pretrain-gpu.yaml --set "max_minutes=$MINUTES" --set "pack=$PACK" \
        --set "output_dir=$OUT/$name" --set "$variant" "$@" > "$OUT/$name.log" 2>&1
    echo $? > "$OUT/$name.rc"
}
rm -f "$OUT"/*.rc
run small-domain "$DOMAIN" "$@" &
run small-all base_model=scratch:small "$@" &
run small6-all base_model=scratch:small6 "$@" &

i=0
while [ $i -lt 90 ]; do
    sleep 1; i=$((i + 1))
    for rc in "$OUT"/*.rc; do
        if [ -f "$rc" ] && [ "$(cat "$rc")" != 0 ]; then
            echo "$(basename "$rc" .rc) failed:" >&2; tail -n 25 "${rc%.rc}.log" >&2
            for job in $(jobs -p); do pkill -P "$job" 2>/dev/null; kill "$job" 2>/dev/null; done
            wait; exit 1
        fi
    done
    [ "$(ls "$OUT"/*.rc 2>/dev/null | wc -l)" -eq 3 ] && break
done
wait
status=0
echo "variant        rc  steps  tokens/s   passes  held-out acc (126)  loss"
for name in small-domain small-all small6-all; do
    rc=$(cat "$OUT/$name.rc")
    [ "$rc" = 0 ] || status=1
    $PYTHON - "$OUT/$name" "$name" "$rc" <<'EOF'
import json, sys
from pathlib import Path
out, name, rc = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
path = out / "pretrain_summary.json"
if not path.is_file():
    print(f"{name:<14} {rc:>2}  (no summary: see {out}.log)")
else:
    s = json.loads(path.read_text())
    h = s["held_out"] or {}
    print(f"{name:<14} {rc:>2} {s['steps']:>6} {s['median_tokens_per_second'] or 0:>9} {s['passes']:>8}"
          f"  {h.get('accuracy', float('nan')):>18.4f}  {h.get('loss', float('nan')):.3f}")
EOF
done
exit $status
