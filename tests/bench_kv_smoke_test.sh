#!/usr/bin/env bash
# bench_kv_smoke_test.sh: bench_kv --quick (a tiny MHA and GQA model, 512-token context,
# full vs duo, one round) runs in a second and reports the exact KV bytes: for each model
# the full and duo byte counts and their ratio must equal the formula
#   full / duo = Hk*L*T / (n_full*T + (Hk*L - n_full)*(S+R)),  bytes = 2*Dh*4*rows,
# with the quick model's shape written here independently of the benchmark (L 2, Dh 16,
# Hk 4 for MHA with every 4th KV head full, Hk 1 for GQA with every 2nd), T 512, S 64,
# R 256; and duo decode must produce as many tokens as full.
#
# bench_longheads --quick (the same tiny model, trained context L 128, full vs longheads
# at 128..2048 tokens, 8 decode steps) likewise, MHA and GQA: its decode and prefill
# tables have a row per context with finite positive figures, every step decoded, and
# its exact KV bytes equal the formula for a context made for C = N + 8 tokens:
#   full = 2*L*Hk*C*Dh*4,  longheads = full + L*Hk*(C + G*(C/W + W))*Dh*4
# (un-rotated keys, then per query head the chunk keys and the current chunk's queries),
# with W 8 (= A/16), A 128 and G query heads per KV head (1, or 4 for GQA).
set -u
cd "$(dirname "$0")/.."
bench=${HW_BUILD:-build/rel}/bench/bench_kv
lh_bench=${HW_BUILD:-build/rel}/bench/bench_longheads
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

# ---------------------------------------------------------------- bench_longheads

# A table row's numbers (a row: the tag, then `columns` fields in all; a heading has more) (after the tag and the context/positions column) all finite and
# positive (a trailing x of a ratio allowed): prints the rows' contexts, or "bad ROW".
check_rows() { # tag columns file
    awk -v tag="$1" -v nf="$2" '$1 == tag && NF == nf {
        for (i = 3; i <= NF; i++) {
            v = $i; sub(/x$/, "", v)
            if (v !~ /^[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?$/ || v + 0 <= 0) { print "bad " $0; next }
        }
        printf "%s ", $2
    }' "$3"
}

# variant flags Hk G
for spec in "MHA - 4 1" "GQA --gqa 1 4"; do
    set -- $spec
    name=$1 flag=$2 hk=$3 g=$4
    [ "$flag" = - ] && flag=
    if "$lh_bench" --quick $flag >"$tmp/lh" 2>"$tmp/err"; then
        echo "PASS bench_longheads --quick $name exits 0"
    else
        echo "FAIL bench_longheads --quick $name exited non-zero:"
        head -5 "$tmp/err"
        continue
    fi
    got=$(check_rows decode 10 "$tmp/lh")
    case $got in
    "128 256 512 1K 2K ") echo "PASS $name: a decode row per context 128..2K, figures finite and positive" ;;
    *) echo "FAIL $name decode rows: $got" ;;
    esac
    got=$(check_rows prefill 5 "$tmp/lh")
    case $got in
    "0..127 136..255 264..511 520..1023 1032..2047 ") echo "PASS $name: a prefill row per segment, figures finite and positive" ;;
    *) echo "FAIL $name prefill rows: $got" ;;
    esac
    if grep -Eq "^  longheads' decode step at 2K over its step at 128 \(measured in turn\): [0-9]+\.[0-9]+x .*full attention's: [0-9]+\.[0-9]+x$" "$tmp/lh"; then
        echo "PASS $name: the flatness summary has finite ratios"
    else
        echo "FAIL $name: no flatness summary with finite ratios"
    fi
    verdict=$(grep "^longheads context=" "$tmp/lh" | awk -v hk="$hk" -v g="$g" '
        { for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
          n++; L = 2; Dh = 16; W = 8; D = 8; C = f["context"] + D
          full = 2 * L * hk * C * Dh * 4
          lh = full + L * hk * (C + g * (int(C / W) + W)) * Dh * 4
          if (f["chunk_w"] != W || f["heads_len"] != 128) bad = bad sprintf(" W %s A %s;", f["chunk_w"], f["heads_len"])
          if (f["full_bytes"] != full || f["lh_bytes"] != lh)
              bad = bad sprintf(" at %d: full %s longheads %s bytes, expected %d %d;", f["context"], f["full_bytes"], f["lh_bytes"], full, lh)
          if (f["decoded_full"] != D || f["decoded_lh"] != D || f["decoded_ref"] != D "," D)
              bad = bad sprintf(" at %d: %s, %s and %s steps decoded;", f["context"], f["decoded_full"], f["decoded_lh"], f["decoded_ref"])
          last = sprintf("%d / %d bytes at %d", lh, full, f["context"]) }
        END {
            if (n != 5) print "5 longheads lines expected, got " n
            else if (bad != "") print bad
            else print "ok " last
        }')
    case $verdict in
    ok*) echo "PASS $name: KV bytes equal the formula at every context (${verdict#ok }), 8 steps decoded in each context" ;;
    *) echo "FAIL $name: $verdict" ;;
    esac
done

"$lh_bench" --quick --decode 200 >/dev/null 2>"$tmp/err"
if [ $? -eq 2 ] && grep -q "decode must be less than" "$tmp/err"; then
    echo "PASS bench_longheads refuses decode steps that overrun the next context"
else
    echo "FAIL bench_longheads accepted --decode 200 with L 128"
fi
