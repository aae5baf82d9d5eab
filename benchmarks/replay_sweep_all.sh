#!/bin/bash
# The full replay sweep of every committed CPU store (issue 32), resumable: each call replays the batches its
# ledger lacks, store by store, and starts none after MINUTES (default 60). Usage:
#     benchmarks/replay_sweep_all.sh [MINUTES]
# Per store, the options its rows replay under (docs/campaigns.md, "Replay on another machine"):
# cifar10-best1bin was made with AVX2 kernels under one thread, cifar10-de-calibration with AVX-512 under one,
# imagenet-cpu with AVX2 under two (each measured); the others: the level they record, else this machine's, and
# the thread count they record, else this machine's default (for a store that records none, only its sampled
# batches show that this is how it was made).
set -u
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE  # a two-thread replay beside another job: idle threads sleep instead of spinning
deadline=$(( $(date +%s) + ${1:-60} * 60 ))
ledger=benchmarks/results/replay-sweep/all-batches.jsonl
run() {
    local left=$(( deadline - $(date +%s) ))
    [ "$left" -gt 60 ] || exit 0
    .venv/bin/python benchmarks/replay_sweep.py "$@" --all --ledger "$ledger" --per-process 25 --max-seconds "$left"
}
run results/cifar10-best1bin/store.sqlite --cpu-capability avx2 --threads 1
run results/cifar10-sparse-500-pilot/store.sqlite
run results/cifar10-de-calibration/store.sqlite --threads 1
run results/cifar10-scan-27-100/store.sqlite
run results/cifar10-scan-500-shift-mm/store.sqlite
run results/cifar10-scan-500-shift-pp/store.sqlite
run results/cifar10-scan-500/store.sqlite
run results/imagenet-cpu/store.sqlite --cpu-capability avx2 --threads 2
run results/cifar10-sparse-500/store.sqlite
