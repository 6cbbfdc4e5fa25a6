#!/usr/bin/env bash
# train_vs_torch.sh: training speed of headwise against PyTorch (/usr/bin/python3) on the
# same model shape and batches, measured in the same run: the organisms' 2-layer
# attention-only model (d_model 64, 4 heads, vocab 512), batch 64 x 64 tokens.
# STEPS (default 100), THREADS (default 2), BATCH and SEQ (default 64 and 64) from the
# environment.
set -eu
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
steps=${STEPS:-100} threads=${THREADS:-2}
B=${BATCH:-64} T=${SEQ:-64} L=2 D=64 H=4 V=512
export OMP_WAIT_POLICY=PASSIVE OPENBLAS_THREAD_TIMEOUT=4
hw=$("$build/bench/bench_train" --steps "$steps" --batch $B --seq $T --layers $L --d $D \
     --heads $H --vocab $V --threads "$threads")
pt=$(/usr/bin/python3 bench/train_torch.py "$steps" $B $T $L $D $H $V "$threads")
echo "$hw"
echo "$pt"
rate() { sed -n 's/.*: \([0-9]*\) tokens\/s.*/\1/p'; }
a=$(echo "$hw" | rate) b=$(echo "$pt" | rate)
awk -v a="$a" -v b="$b" 'BEGIN { printf "training tokens/s, headwise / pytorch: %.2f\n", a / b }'
