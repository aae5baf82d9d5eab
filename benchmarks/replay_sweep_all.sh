#!/bin/bash
# The full replay sweep of every committed CPU store (issue 32), resumable: each call replays the batches its
# ledger lacks, store by store, and starts none after MINUTES (default 60). Usage:
#     benchmarks/replay_sweep_all.sh [MINUTES]
# Per store, the options its rows replay under (docs/campaigns.md, "Replay on another machine"):
# cifar10-best1bin was made with AVX2 kernels under one thread, cifar10-de-calibration with AVX-512 under one,
# imagenet-cpu with AVX2 under two (each measured); the others: the level they record, else this machine's, and
# the thread count they record, else this machine's default (for a store that records none, only its sampled
# batches show that this is how it was made).
# The stores whose rows record no level but were made on CPUs with AVX-512 (the scan stores: their sampled batches
# replay bit for bit under AVX-512, benchmarks/results/replay-sweep/sample-per-cell-1.txt) are left for a CPU that
# has it: replayed here at another level, their ledger lines would stand for an exact replay they are not.
# Batches a store records as made with kernels this CPU lacks are skipped and counted (replay_sweep.py).
set -u
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE  # a two-thread replay beside another job: idle threads sleep instead of spinning
deadline=$(( $(date +%s) + ${1:-60} * 60 ))
ledger=benchmarks/results/replay-sweep/all-batches.jsonl
avx512=$(.venv/bin/python -c "from pixelspace.runtime import cpu_supports; print(int(cpu_supports('avx512')))")
sweep() {
    local left=$(( deadline - $(date +%s) ))
    [ "$left" -gt 60 ] || exit 0
    .venv/bin/python benchmarks/replay_sweep.py "$@" --ledger "$ledger" --per-process 25 --max-seconds "$left"
}
run() { sweep "$@" --all; }
made_with_avx512() {  # a store whose unrecorded rows were made with AVX-512: only where this CPU has it
    if [ "$avx512" = 1 ]; then run "$@"; else echo "$1: its rows were made with AVX-512 kernels, which this CPU lacks: left for one that has them"; fi
}
run results/cifar10-best1bin/store.sqlite --cpu-capability avx2 --threads 1
run results/imagenet-cpu/store.sqlite --cpu-capability avx2 --threads 2
# cifar10-sparse-500 grows session by session and every row of it was made after the remodel this sweep checks
# (attack/evaluation.py, 2f2a9b7, 2026-12-06 05:54 UTC; its first row 13:07): replaying all of it would check
# reproducibility across runs at the cost of the campaign itself, so one batch per cell is drawn (seed 0; a new
# draw once the store has grown). Both AVX2 batches of its first 2,160 rows (run 6) replayed: 120 of 120 rows exact.
sweep results/cifar10-sparse-500/store.sqlite --per-cell 1
made_with_avx512 results/cifar10-sparse-500-pilot/store.sqlite
made_with_avx512 results/cifar10-de-calibration/store.sqlite --cpu-capability avx512 --threads 1
made_with_avx512 results/cifar10-scan-27-100/store.sqlite
made_with_avx512 results/cifar10-scan-500-shift-mm/store.sqlite
made_with_avx512 results/cifar10-scan-500-shift-pp/store.sqlite
made_with_avx512 results/cifar10-scan-500/store.sqlite
