#!/usr/bin/env bash
# A transfer experiment sharded over a Slurm array: the source model once, then SHARDS array tasks
# (one GPU each, any node), then the merge that writes the report. Submits the three steps with
# dependencies and returns at once; watch them with `squeue --me`.
#
#   CONFIG=grid.toml OUT=/shared/runs/grid SHARDS=16 bash examples/slurm/experiment.sh
#
# OUT must be a folder every node sees (the shards read OUT/source.safetensors and write
# OUT/results-shard-K-of-N.json). ADAPTER (default NVIDIA) makes a shard fail on a node without
# such a GPU instead of training on a CPU driver; set it to a PCI bus id (`lstm-transfer info`) to
# pin one GPU where Slurm does not confine a job to its own.
set -euo pipefail
: "${CONFIG:?set CONFIG to the experiment TOML file}"
: "${OUT:?set OUT to a folder shared by the nodes}"
SHARDS=${SHARDS:-8}
ADAPTER=${ADAPTER:-NVIDIA}
BIN=${BIN:-lstm-transfer}
here=$(dirname "$0")
export CONFIG OUT SHARDS ADAPTER BIN
mkdir -p "$OUT"   # Slurm writes the jobs' logs there and will not create it

source_job=$(sbatch --parsable --job-name=lstm-transfer-source --gpus=1 --time=02:00:00 --output="$OUT/slurm-source-%j.out" \
  --wrap "$BIN --quiet --adapter '$ADAPTER' experiment --config '$CONFIG' --out '$OUT' --stage source --overwrite")
array_job=$(sbatch --parsable --dependency="afterok:$source_job" --array="1-$SHARDS" --output="$OUT/slurm-shard-%a.out" \
  "$here/experiment-shard.sbatch")
merge_job=$(sbatch --parsable --dependency="afterok:$array_job" --job-name=lstm-transfer-merge --time=00:10:00 \
  --output="$OUT/slurm-merge-%j.out" --wrap "$BIN experiment merge '$OUT' --overwrite")
echo "submitted: source $source_job, shards $array_job (1-$SHARDS), merge $merge_job; report: $OUT/report.md"
