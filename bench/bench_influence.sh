#!/usr/bin/env bash
# bench_influence.sh: `headwise influence` throughput (documents/s, tokens/s) with 1, 2 and
# 4 MPI ranks of one thread each on this machine, per rank too, on two selectors:
#   - the retrieval organism (4 layers, d 64, context 64) over its four-domain corpus
#     (scripts/influence_corpus.py, DOCS documents);
#   - stories260K (5 layers, d 64, context 512) over DOCS / 20 story passages (40-200
#     words) cut from data/haystack/stories.txt.
# 4 ranks on a 2-core machine are oversubscribed (said in the table). Then the wall time
# of the paper's 241B-token corpus on N machines of C cores, from the measured one-rank
# (one-core) rate, and that rate scaled by parameters to the paper's 1.3B selector
# (forward cost ~ 2 x params FLOPs per token, twice: base and masked; an estimate).
# Not a test: nothing here fails on timing. Measured (load average ~2 from other work):
#   organism     1 rank 55.4K tokens/s (1,201 docs/s), 2 ranks 94.4K (1.70x), 4 ranks 85.6K
#   stories260K  1 rank  5.6K tokens/s,                 2 ranks 10.1K (1.82x), 4 ranks  9.5K
set -euo pipefail
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
hw=$build/headwise
docs=${DOCS:-10000}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_WAIT_POLICY=PASSIVE
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v mpirun >/dev/null && ldd "$hw" | grep -q libmpi || { echo "bench_influence: needs an MPI build (make MPI=1)"; exit 0; }

org=$(scripts/organism.sh retrieval)
"$hw" score retrieval -m "$org" --task retrieval --samples 50 -o "$tmp/heads.json" >/dev/null 2>&1
/usr/bin/python3 scripts/influence_corpus.py --headwise "$hw" -n "$docs" -o "$tmp/org.jsonl"
/usr/bin/python3 - "$tmp/stories.jsonl" "$((docs / 20))" <<'PY'
import json, random, sys
words = open("data/haystack/stories.txt", encoding="utf-8").read().split()
rng = random.Random(1)
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        a = rng.randrange(len(words) - 400)
        f.write(json.dumps({"id": i, "domain": "story", "text": " ".join(words[a:a + rng.randint(40, 200)])}) + "\n")
PY
stories=${HW_SHARED:-../shared}/models/stories260K

measure() { # name np model-flags...: one line of the table
    local name=$1 np=$2
    shift 2
    rm -f "$tmp/out"*
    local t0 t1
    t0=$(date +%s.%N)
    if [ "$np" -eq 1 ]; then "$hw" influence "$@" -o "$tmp/out.jsonl" --threads 1 2>"$tmp/err" || { tail -n 3 "$tmp/err"; exit 1; }
    else mpirun -np "$np" --oversubscribe "$hw" influence "$@" -o "$tmp/out.jsonl" --threads 1 2>"$tmp/err" || { tail -n 3 "$tmp/err"; exit 1; }; fi
    t1=$(date +%s.%N)
    /usr/bin/python3 - "$name" "$np" "$t0" "$t1" "$tmp/out.jsonl" "$(nproc)" <<'PY'
import json, sys
name, np, t0, t1, out, cores = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], int(sys.argv[6])
rows = [json.loads(l) for l in open(out)]
s, tok = t1 - t0, sum(r["tokens"] for r in rows)
note = " (oversubscribed: %d ranks on %d cores)" % (np, cores) if np > cores else ""
print("%-12s %d rank%s  %6.2f s  %8.0f docs/s  %9.0f tokens/s  per rank %8.0f tokens/s%s"
      % (name, np, "s" if np > 1 else " ", s, len(rows) / s, tok / s, tok / s / np, note))
with open(out + ".rate", "w") as f:
    f.write("%r\n" % (tok / s / np))
PY
    cp "$tmp/out.jsonl.rate" "$tmp/rate.$name.$np"
}

echo "headwise influence, each document scored twice (base, masked); wall time includes model load and MPI start"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) (other work shares the cores)"
for np in 1 2 4; do measure organism "$np" -m "$org" --heads "$tmp/heads.json" --top 0.1 --corpus "$tmp/org.jsonl"; done
for np in 1 2 4; do measure stories260K "$np" -m "$stories/stories260K.bin" -z "$stories/tok512.bin" \
    --heads-list 1.0,3.2,4.5 --corpus "$tmp/stories.jsonl"; done

/usr/bin/python3 - "$tmp" <<'PY'
import sys
tmp = sys.argv[1]
params = {"organism": 4 * 12 * 64 * 64 + 2 * 165 * 64, "stories260K": 260e3}
T = 241e9
# A 1.3B selector is compute-bound: about 4 x 1.3e9 FLOPs a token (forward twice), at ~90
# GFLOP/s a core (OpenBLAS sgemm, 175-190 GFLOP/s on 2 threads here: design.md).
flop_rate = 90e9 / (4 * 1.3e9)
print("\n1.3B selector, FLOP-bound estimate: %.1f tokens/s/core; 241B tokens on 128 x 64 cores: %.1f days"
      % (flop_rate, T / (flop_rate * 128 * 64) / 86400))
print("\nprojection for the paper's corpus (241B tokens), from the one-rank (one-core) rate:")
for name in ("organism", "stories260K"):
    r = float(open("%s/rate.%s.1" % (tmp, name)).read())
    r13 = r * params[name] / 1.3e9
    for machines, cores in ((1, 2), (16, 64), (128, 64)):
        print("  %-12s %4d machine%s x %2d cores: %9.1f hours at %.0f tokens/s/core; scaled by parameters "
              "to 1.3B (%.2f tokens/s/core): %.1f days"
              % (name, machines, "s" if machines > 1 else " ", cores, T / (r * machines * cores) / 3600, r,
                 r13, T / (r13 * machines * cores) / 86400))
PY
