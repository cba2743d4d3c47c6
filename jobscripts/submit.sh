#!/bin/bash
# Submit an hpcclose job:  jobscripts/submit.sh run|strong|weak|train INPUT.toml [sbatch options…]
# Input overrides go in SETS, e.g. SETS="mesh.cells=20000 scheme.t_final=2" jobscripts/submit.sh run in.toml
set -euo pipefail
usage() { echo "usage: $0 run|strong|weak|train INPUT.toml [sbatch options]" >&2; exit 2; }
[ $# -ge 2 ] || usage
kind=$1 input=$2; shift 2
case "$kind" in
    run) script=run.slurm ;; strong) script=strong_scaling.slurm ;; weak) script=weak_scaling.slurm ;;
    train) script=train_gpu.slurm ;; *) usage ;;
esac
[ -f "$input" ] || { echo "$0: no such input file: $input" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
exec sbatch --export=ALL,INPUT="$input",SETS="${SETS:-}" "$@" "$here/$script"
