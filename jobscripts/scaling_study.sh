#!/bin/bash
# Submit a scaling study: one job per node count (strong_scaling.slurm or weak_scaling.slurm), then a merge
# job that starts when they have all ended and writes one table and plot:
#   jobscripts/scaling_study.sh strong|weak INPUT.toml NODES [sbatch options…] [-- bench steps options…]
# e.g. jobscripts/scaling_study.sh strong inputs/line_source_m2.toml 1,2,4,8 --partition=cpu \
#          -- --steps 20 --repeats 5 --set 'mesh.cells=[4096,4096]'
# NODES: node counts, comma-separated. sbatch options go to every job; everything after "--" reaches
# `hpcclose bench steps` as separate arguments (values with spaces or quotes are safe). The results go to
# $HPCCLOSE_STUDY_DIR (default scaling-<kind>-<date>-<time>, under the directory you submit from).
set -euo pipefail
usage() { echo "usage: $0 strong|weak INPUT.toml NODES [sbatch options…] [-- hpcclose options…]" >&2; exit 2; }
[ $# -ge 3 ] || usage
kind=$1 input=$2 nodes=$3; shift 3
case "$kind" in strong|weak) ;; *) usage ;; esac
[[ $nodes =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || { echo "$0: NODES must be like 1,2,4, got '$nodes'" >&2; exit 2; }
[ -f "$input" ] || { echo "$0: no such input file: $input" >&2; exit 2; }
sbatch_opts=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do sbatch_opts+=("$1"); shift; done
[ $# -gt 0 ] && shift  # the "--"
here=$(cd "$(dirname "$0")" && pwd)
export HPCCLOSE_STUDY_DIR=${HPCCLOSE_STUDY_DIR:-scaling-$kind-$(date +%Y%m%d-%H%M%S)}  # sbatch passes it on

ids=()
for n in ${nodes//,/ }; do
    id=$(sbatch --parsable --nodes="$n" "${sbatch_opts[@]}" "$here/${kind}_scaling.slurm" "$input" "$@")
    ids+=("${id%%;*}")  # --parsable prints "id" or "id;cluster"
done
after=$(IFS=:; echo "${ids[*]}")
merge=$(sbatch --parsable --dependency="afterany:$after" "${sbatch_opts[@]}" "$here/scaling_merge.slurm" "$kind")
echo "$kind scaling study in $HPCCLOSE_STUDY_DIR: point jobs ${ids[*]} (nodes $nodes), merge job ${merge%%;*}"
