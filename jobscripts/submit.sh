#!/bin/bash
# Submit an hpcclose job:
#   jobscripts/submit.sh run|run_gpu|strong|weak|train INPUT.toml [sbatch options…] [-- hpcclose options…]
# e.g. jobscripts/submit.sh run inputs/line_source_m2.toml --ntasks=128 -- --set 'mesh.cells=[512,512]'
# Everything after "--" reaches hpcclose as separate arguments (values with spaces or quotes are safe).
set -euo pipefail
usage() { echo "usage: $0 run|run_gpu|strong|weak|train INPUT.toml [sbatch options…] [-- hpcclose options…]" >&2; exit 2; }
[ $# -ge 2 ] || usage
kind=$1 input=$2; shift 2
case "$kind" in
    run) script=run.slurm ;; run_gpu) script=run_gpu.slurm ;; strong) script=strong_scaling.slurm ;; weak) script=weak_scaling.slurm ;;
    train) script=train_gpu.slurm ;; *) usage ;;
esac
[ -f "$input" ] || { echo "$0: no such input file: $input" >&2; exit 2; }
sbatch_opts=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do sbatch_opts+=("$1"); shift; done
[ $# -gt 0 ] && shift  # the "--"
here=$(cd "$(dirname "$0")" && pwd)
exec sbatch "${sbatch_opts[@]}" "$here/$script" "$input" "$@"
