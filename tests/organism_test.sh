#!/usr/bin/env bash
# organism_test.sh: model organisms trained through the CLI users run (`headwise
# organism`), seeded, and the training command's plumbing.
#
# Release build: the default organisms come from the cache outside the clone
# (tests/organisms.sh, scripts/organism.sh: trained once per machine and sources, and
# shared with organism_heads_test.sh, the golden test and `make demo`); their accuracy is
# read from the folder's training.json, which the training run wrote. The default
# induction organism (2-layer attention-only) must
# reach >= 90% next-token accuracy on the repeated segments after their first
# token, with a layer-0 head of previous-token score >= 0.3 and a layer-1 head of
# induction score >= 0.5 (from attention patterns, tests/tool_head_scores.c), and
# continue a repeated segment through `headwise generate` on its folder; the
# default retrieval organism must reach >= 90% exact answers at its trained
# context length (64); the default recall organism must recall >= 95% of the
# memorised facts plainly and follow between 3% and 40% of counterfactual prefixes
# (its training keeps a counterfactual for some subjects and not others; one that
# followed them all, or none, fails).
# Sanitizer build (HW_BUILD contains "san", ~10x slower): the same commands on
# shortened runs, asserting that the loss falls by a stated amount.
# Both: a run resumed from its checkpoint ends with the same bytes as one that
# was not interrupted, and bad flags give one error line.
set -u
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
hw=$build/headwise
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3
# field FILE KEY: a number from a JSON summary
field() { $py -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(v)' "$1" "$2" 2>/dev/null; }
ge() { $py -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)' "$1" "$2" 2>/dev/null; }
san=0
case "$build" in *san*) san=1 ;; esac

if [ $san = 1 ]; then
    echo "(sanitizer build: shortened organism runs that assert a falling loss, not the accuracy thresholds)"
    # Markov filler is learned within a few dozen steps: the loss (first step against the
    # mean of the last four) must fall by 1 nat.
    if "$hw" organism retrieval -o "$tmp/ret" --steps 40 --batch 4 --warmup 5 --eval 4 --threads 2 \
        >"$tmp/ret.json" 2>"$tmp/ret.err"; then
        first=$(field "$tmp/ret.json" first_loss) last=$(field "$tmp/ret.json" final_loss)
        if ge "$first" "$($py -c "print($last + 1.0)")"; then
            echo "PASS retrieval organism (shortened: 40 steps of 4): loss $first -> $last, down by >= 1 nat"
        else
            echo "FAIL retrieval organism (shortened): loss $first -> $last did not fall by 1 nat"
        fi
    else
        echo "FAIL retrieval organism (shortened) failed: $(tail -n1 "$tmp/ret.err")"
    fi
    if "$hw" organism induction -o "$tmp/ind" --steps 12 --batch 4 --warmup 2 --eval 4 --threads 2 \
        >"$tmp/ind.json" 2>"$tmp/ind.err" && [ -s "$tmp/ind/model.safetensors" ] &&
        "$build/tests/tool_head_scores" "$tmp/ind" 2 >"$tmp/scores"; then
        echo "PASS induction organism (shortened: 12 steps of 4) trains, writes its folder and yields head scores"
    else
        echo "FAIL induction organism (shortened): $(tail -n1 "$tmp/ind.err")"
    fi
else
    . tests/organisms.sh
    if ind=$(organism induction); then
        acc=$(field "$ind/training.json" accuracy) secs=$(field "$ind/training.json" seconds) tps=$(field "$ind/training.json" tokens_per_s)
        if ge "$acc" 0.90; then
            echo "PASS induction organism: $acc next-token accuracy on repeats (>= 0.90), trained in ${secs}s, $tps tok/s"
        else
            echo "FAIL induction organism: accuracy $acc < 0.90"
        fi
        if "$build/tests/tool_head_scores" "$ind" 50 >"$tmp/scores"; then
            prev=$(awk '$1=="prev" && $2==0 {if ($4>m) m=$4} END {print m+0}' "$tmp/scores")
            indu=$(awk '$1=="induction" && $2==1 {if ($4>m) m=$4} END {print m+0}' "$tmp/scores")
            if ge "$prev" 0.3; then echo "PASS layer-0 previous-token head: score $prev (>= 0.3)"
            else echo "FAIL layer-0 previous-token scores at most $prev (< 0.3)"; fi
            if ge "$indu" 0.5; then echo "PASS layer-1 induction head: score $indu (>= 0.5)"
            else echo "FAIL layer-1 induction scores at most $indu (< 0.5)"; fi
        else
            echo "FAIL tool_head_scores on the induction organism"
        fi
        # The folder through generate: a segment seen once is continued greedily.
        seg="t11 t222 t33 t104 t5 t66 t170 t8 t190 t10 t111 t12"
        out=$("$hw" generate -m "$ind" -p "t200 t201 t202 $seg t250 t251 t252 t11 t222 t33 t104" -n 30 -t 0 2>/dev/null)
        if printf '%s' "$out" | grep -q "t11 t222 t33 t104 t5 t66 t170 t8 t190"; then
            echo "PASS headwise generate on the induction folder continues the repeated segment"
        else
            echo "FAIL generate on the induction folder: [$out]"
        fi
    else
        echo "FAIL induction organism: $(tail -n1 "$tmp/induction.err")"
    fi
    if ret=$(organism retrieval); then
        acc=$(field "$ret/training.json" accuracy) secs=$(field "$ret/training.json" seconds) tps=$(field "$ret/training.json" tokens_per_s)
        if ge "$acc" 0.90; then
            echo "PASS retrieval organism: $acc exact answers at context 64 (>= 0.90), trained in ${secs}s, $tps tok/s"
        else
            echo "FAIL retrieval organism: exact answers $acc < 0.90"
        fi
    else
        echo "FAIL retrieval organism: $(tail -n1 "$tmp/retrieval.err")"
    fi
    if rec=$(organism recall); then
        acc=$(field "$rec/training.json" accuracy) cf=$(field "$rec/training.json" accuracy2) secs=$(field "$rec/training.json" seconds)
        if ge "$acc" 0.95; then
            echo "PASS recall organism: $acc plain recall (>= 0.95), trained in ${secs}s"
        else
            echo "FAIL recall organism: plain recall $acc < 0.95"
        fi
        if ge "$cf" 0.03 && ge 0.40 "$cf"; then
            echo "PASS recall organism follows $cf of counterfactual prefixes (0.03 to 0.40)"
        else
            echo "FAIL recall organism follows $cf of counterfactual prefixes (want 0.03 to 0.40)"
        fi
    else
        echo "FAIL recall organism: $(tail -n1 "$tmp/recall.err")"
    fi
fi

# Resume: stopped after step 6 (as if interrupted), then resumed for the rest = 12
# steps uninterrupted, byte for byte; also with head dropout, whose gates come from the
# seed and step (and which must change the weights).
small="--layers 1 --heads 2 --d-model 16 --batch 4 --steps 12 --warmup 2 --eval 2 --threads 2"
for drop in "" "--layers 2 --head-dropout 0.5 --head-dropout-layers 1"; do
    what=${drop:+" with head dropout"}
    rm -rf "$tmp/whole" "$tmp/part"
    if "$hw" train successor -o "$tmp/whole" $small $drop >/dev/null 2>"$tmp/err" &&
        "$hw" train successor -o "$tmp/part" $small $drop --stop-at 6 >/dev/null 2>>"$tmp/err" &&
        [ -s "$tmp/part/checkpoint.hwt" ] && [ ! -e "$tmp/part/model.safetensors" ] &&
        "$hw" train successor -o "$tmp/part" $small $drop --resume "$tmp/part/checkpoint.hwt" >/dev/null 2>>"$tmp/err"; then
        if cmp -s "$tmp/whole/model.safetensors" "$tmp/part/model.safetensors"; then
            echo "PASS a resumed run$what ends with the same weights as an uninterrupted one"
        else
            echo "FAIL a resumed run's weights$what differ from the uninterrupted run's"
        fi
    else
        echo "FAIL train/resume$what: $(tail -n1 "$tmp/err")"
    fi
done
if "$hw" train successor -o "$tmp/nodrop" $small --layers 2 >/dev/null 2>"$tmp/err" &&
    ! cmp -s "$tmp/nodrop/model.safetensors" "$tmp/whole/model.safetensors" &&
    grep -q '"head_dropout": 0.5, "head_dropout_layers": \[1\]' "$tmp/whole/training.json"; then
    echo "PASS --head-dropout changes the weights and is recorded in training.json"
else
    echo "FAIL --head-dropout: same weights as without it, or not in training.json $(tail -n1 "$tmp/err")"
fi
# The output folder is made with its parents.
if "$hw" train successor -o "$tmp/a/b/c" $small --steps 2 >/dev/null 2>"$tmp/err" && [ -s "$tmp/a/b/c/config.json" ]; then
    echo "PASS -o creates missing parent folders"
else
    echo "FAIL -o a/b/c: $(tail -n1 "$tmp/err")"
fi
if [ -s "$tmp/whole/tokenizer.json" ] && "$hw" info -m "$tmp/whole" >/dev/null 2>&1 &&
    "$hw" generate -m "$tmp/whole" -p "monday tuesday" -n 6 -t 0 >/dev/null 2>&1; then
    echo "PASS a trained folder loads with info and generate"
else
    echo "FAIL a trained folder does not load with info or generate"
fi

# Bad input: one error line, non-zero status.
bad() {
    local want=$1
    shift
    "$hw" "$@" >/dev/null 2>"$tmp/err"
    local rc=$?
    if [ $rc -ne 0 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q -- "$want" "$tmp/err"; then
        echo "PASS $* -> error naming $want"
    else
        echo "FAIL $* -> status $rc, stderr [$(head -c 300 "$tmp/err")]"
    fi
}
bad "sorting" organism sorting -o "$tmp/x"
bad "-o" organism induction
bad "task" train -o "$tmp/x"
bad "--heads" train induction -o "$tmp/x" --d-model 64 --heads 5
bad "--lr" train induction -o "$tmp/x" --lr abc
bad "--schedule" train induction -o "$tmp/x" --schedule linear
bad "nope.hwt" train successor -o "$tmp/x" --steps 2 --resume "$tmp/nope.hwt"
bad "--bogus" organism recall -o "$tmp/x" --bogus
bad "--override" organism recall -o "$tmp/x" --override 1.5
bad "--head-dropout-layers" train induction -o "$tmp/x" --head-dropout 0.2 --head-dropout-layers 1,x
bad "--head-dropout" organism induction -o "$tmp/x" --head-dropout 1
