#!/usr/bin/env bash
# atlas_cli_test.sh: `headwise atlas` on stories260K: bad input is one error line and a
# non-zero exit before any probe runs (no -o, an unknown threshold, probe or task, a NaN
# threshold, a missing gates or prompts file, an -o that cannot be a folder); a run with
# text probes writes atlas.json (previous-token head 1.3 labelled) and atlas.html, prints a
# line per label and the policy, and its --kv flag is accepted by `headwise niah`.
set -u
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
hw=$build/headwise
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
S=${HW_SHARED:-$(cd .. && pwd)/shared}/models/stories260K
M=(-m "$S/stories260K.bin" -z "$S/tok512.bin")

expect_error() { # name needle command...
    local name=$1 needle=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$? lines
    lines=$(wc -l <"$tmp/err")
    if [ $rc -ne 1 ] && [ $rc -ne 2 ]; then echo "FAIL $name: exit status $rc (want 1 or 2)"
    elif [ "$lines" -ne 1 ]; then echo "FAIL $name: $lines stderr lines (want 1): $(head -n3 "$tmp/err")"
    elif ! grep -qF -- "$needle" "$tmp/err"; then echo "FAIL $name: error does not name '$needle': $(cat "$tmp/err")"
    else echo "PASS $name"; fi
}
expect_error "atlas/no-out" "-o DIR" "$hw" atlas "${M[@]}"
expect_error "atlas/threshold-name" "--threshold" "$hw" atlas "${M[@]}" -o "$tmp/a" --threshold speed=1
expect_error "atlas/threshold-nan" "--threshold" "$hw" atlas "${M[@]}" -o "$tmp/a" --threshold echo=nan
expect_error "atlas/skip" "unknown probe 'nope'" "$hw" atlas "${M[@]}" -o "$tmp/a" --skip echo,nope
expect_error "atlas/task" "nope" "$hw" atlas "${M[@]}" -o "$tmp/a" --task nope
expect_error "atlas/gates" "missing.tsv" "$hw" atlas "${M[@]}" -o "$tmp/a" --gates "$tmp/missing.tsv"
expect_error "atlas/prompts" "missing.tsv" "$hw" atlas "${M[@]}" -o "$tmp/a" --prompts "$tmp/missing.tsv"
touch "$tmp/file"
expect_error "atlas/out-is-a-file" "$tmp/file" "$hw" atlas "${M[@]}" -o "$tmp/file"

if "$hw" atlas "${M[@]}" -o "$tmp/st" --skip retrieval,mask,kv-eval --probe-tokens 128 >"$tmp/st.out" 2>"$tmp/st.err"; then
    flag=$("$py" -c "import json; print(json.load(open('$tmp/st/atlas.json'))['kv_policy']['flag'])")
    if "$py" - "$tmp" <<'PY' >"$tmp/judge" 2>&1 &&
import json, sys
t = sys.argv[1]
a = json.load(open(t + "/st/atlas.json"))
h = {(x["layer"], x["head"]): x for x in a["heads_info"]}
assert (a["layers"], a["heads"], a["kv_heads"]) == (5, 8, 4) and len(h) == 40
assert "previous-token" in h[(1, 3)]["labels"], h[(1, 3)]
assert a["probes"]["retrieval"] == "skipped" and a["probe"]["bins"] == len(a["probe"]["tokens"]) == 127
out = open(t + "/st.out").read()
assert "previous-token: " in out and "kv policy: " in out and "atlas.html" in out, out
assert "id=\"head-card\"" in open(t + "/st/atlas.html").read()
print("head 1.3 %s (prev_token %.2f); %s" % (h[(1, 3)]["labels"], h[(1, 3)]["scores"]["prev_token"], a["kv_policy"]["flag"]))
PY
        "$hw" niah "${M[@]}" --needles data/needles/stories.jsonl --haystack data/haystack/stories.txt \
            --lengths 128:256:2 --depths 2 $flag -o "$tmp/n.json" >/dev/null 2>"$tmp/err"; then
        echo "PASS atlas/stories260K: $(head -n1 "$tmp/judge")"
    else
        echo "FAIL atlas/stories260K: $(tail -n1 "$tmp/judge") $(tail -n1 "$tmp/err")"
    fi
else
    echo "FAIL atlas/stories260K: $(tail -n1 "$tmp/st.err")"
fi
