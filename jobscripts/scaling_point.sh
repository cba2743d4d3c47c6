# Sourced by strong_scaling.slurm and weak_scaling.slurm (which set $kind): the points of a scaling study
# that this job's nodes measure, one `srun … hpcclose bench steps` per rank count, each written as
# $HPCCLOSE_STUDY_DIR/<kind>_P<ranks>.json for `hpcclose bench scaling --merge` (scaling_merge.slurm).
#   RANKS=1,2,4          rank counts to measure (default: on one node 1, 2, 4, … up to the job's tasks, so the
#                        study has its within-node points; on more nodes the job's tasks only)
#   HPCCLOSE_SRUN_MPI=pmix   srun's --mpi plugin: Open MPI (PMIx) wants pmix, MPICH built with Slurm's PMI
#                        support runs with the default (or pmi2); `srun --mpi=list` shows what your site has
input=${1:?usage: sbatch ${kind}_scaling.slurm INPUT.toml [hpcclose bench steps options: --steps N --set k=v …]}
shift  # the rest ("$@") are hpcclose options, passed on as they are: never pasted into code
cd "${SLURM_SUBMIT_DIR:-.}" || exit 2

# --- your site's environment (placeholders: the modules `make setup` was built with) ------------------------
# module purge
# module load gcc openmpi hdf5-parallel python/3.11
export NUMBA_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}  # the BLAS pools alike (else sized by the cores seen)
export OMP_NUM_THREADS=$NUMBA_NUM_THREADS OPENBLAS_NUM_THREADS=$NUMBA_NUM_THREADS MKL_NUM_THREADS=$NUMBA_NUM_THREADS
HPCCLOSE=${HPCCLOSE:-.venv/bin/hpcclose}
study=${HPCCLOSE_STUDY_DIR:-scaling-$kind}
mkdir -p "$study"

# one rank per core, pinned, ranks filling a node before the next (block distribution)
srun_opts=(--cpu-bind=cores --distribution=block:block)
[ -n "${HPCCLOSE_SRUN_MPI:-}" ] && srun_opts+=("--mpi=$HPCCLOSE_SRUN_MPI")
if [ -z "${RANKS:-}" ]; then
    RANKS=${SLURM_NTASKS:?no SLURM_NTASKS: submit with sbatch}
    if [ "${SLURM_JOB_NUM_NODES:-1}" = 1 ]; then
        RANKS=1; for (( p = 2; p <= SLURM_NTASKS; p *= 2 )); do RANKS+=",$p"; done
    fi
fi
status=0
for p in ${RANKS//,/ }; do
    [[ $p =~ ^[1-9][0-9]*$ ]] || { echo "$0: RANKS must be positive integers, got '$p'" >&2; exit 2; }
    echo "hpcclose: $kind scaling, $p rank(s) on ${SLURM_JOB_NUM_NODES:-1} node(s)"
    srun "${srun_opts[@]}" -n "$p" "$HPCCLOSE" bench steps "$input" --kind "$kind" \
        --json "$study/${kind}_P$p.json" "$@" || status=$?
done
exit $status
