#!/usr/bin/env bash
# bench_kv_smoke_test.sh: bench_kv --quick (a tiny MHA and GQA model, 512-token context,
# full vs duo, one round) runs in a second and reports the exact KV bytes: for each model
# the full and duo byte counts and their ratio must equal the formula
#   full / duo = Hk*L*T / (n_full*T + (Hk*L - n_full)*(S+R)),  bytes = 2*Dh*4*rows,
# with the quick model's shape written here independently of the benchmark (L 2, Dh 16,
# Hk 4 for MHA with every 4th KV head full, Hk 1 for GQA with every 2nd), T 512, S 64,
# R 256; and duo decode must produce as many tokens as full.
set -u
cd "$(dirname "$0")/.."
bench=${HW_BUILD:-build/rel}/bench/bench_kv
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if "$bench" --quick >"$tmp/out" 2>"$tmp/err"; then
    echo "PASS bench_kv --quick exits 0"
else
    echo "FAIL bench_kv --quick exited non-zero:"
    head -5 "$tmp/err"
fi

# model Hk n_full
for spec in "MHA 4 2" "GQA 1 1"; do
    set -- $spec
    name=$1 hk=$2 nfull=$3
    line=$(grep "^kv model=$name " "$tmp/out")
    if [ -z "$line" ]; then
        echo "FAIL $name: no kv line in bench_kv --quick's output"
        continue
    fi
    verdict=$(echo "$line" | awk -v hk="$hk" -v nfull="$nfull" '
        { for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] } }
        END {
            L = 2; Dh = 16; T = 512; S = 64; R = 256
            full = 2 * Dh * 4 * hk * L * T
            duo = 2 * Dh * 4 * (nfull * T + (hk * L - nfull) * (S + R))
            want = full / duo
            d = f["ratio"] - want; if (d < 0) d = -d
            if (f["context"] != T || f["n_full"] != nfull || f["kv_heads"] != hk * L)
                printf "shape: context %s n_full %s kv_heads %s, expected %d %d %d", f["context"], f["n_full"], f["kv_heads"], T, nfull, hk * L
            else if (f["full_bytes"] != full || f["duo_bytes"] != duo)
                printf "bytes: full %s duo %s, expected %d %d", f["full_bytes"], f["duo_bytes"], full, duo
            else if (d > 5e-6)
                printf "ratio %s, expected %.6f", f["ratio"], want
            else if (f["decoded_full"] < 1 || f["decoded_duo"] != f["decoded_full"])
                printf "decoded tokens: full %s, duo %s", f["decoded_full"], f["decoded_duo"]
            else
                printf "ok %.6f (%d / %d bytes), %d tokens decoded each", want, full, duo, f["decoded_full"]
        }')
    case $verdict in
    ok*) echo "PASS $name KV-bytes ratio equals the formula: ${verdict#ok }" ;;
    *) echo "FAIL $name: $verdict" ;;
    esac
done

if grep -q "^  MHA    512 ratio" "$tmp/out" && grep -q "^  GQA    512 ratio" "$tmp/out"; then
    echo "PASS the table has a ratio row per model"
else
    echo "FAIL no ratio rows in the table"
fi

"$bench" --no-such-option >/dev/null 2>"$tmp/err"
if [ $? -eq 2 ] && grep -q "unknown option" "$tmp/err"; then
    echo "PASS an unknown option is refused"
else
    echo "FAIL an unknown option was not refused with status 2"
fi
