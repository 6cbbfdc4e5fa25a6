#!/usr/bin/env bash
# install_test.sh: `make install PREFIX=...` gives a prefix a C program builds against
# with pkg-config alone. Installs into a temporary prefix, checks the files (header, both
# libraries, the soname link, the CLI, headwise.pc), compiles a small program with only
# `pkg-config --cflags --libs headwise` (PKG_CONFIG_PATH at the prefix), and runs it on
# stories260K: it must load the model, report its shape, and greedily continue "Once
# upon a time" with the text the installed CLI generates for the same prompt. The same
# program is also linked statically (`pkg-config --static`) and must print the same.
set -u
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
shared=${HW_SHARED:-$(cd .. && pwd)/shared}
model=$shared/models/stories260K/stories260K.bin
tok=$shared/models/stories260K/tok512.bin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS install: $*"; }
fail() { echo "FAIL install: $*"; }

case "$build" in *san*)
    # The sanitizer build installs sanitized libraries a plain program cannot link.
    echo "(sanitizer build: install is tested with the release build only)"
    exit 0 ;;
esac
if ! command -v pkg-config >/dev/null; then
    fail "pkg-config is not installed (scripts/install-deps.sh installs it)"
    exit 0
fi
prefix=$tmp/prefix
if ! make -s install PREFIX="$prefix" >"$tmp/make.log" 2>&1; then
    fail "make install PREFIX=$prefix: $(tail -n1 "$tmp/make.log")"
    exit 0
fi
missing=""
for f in include/headwise.h lib/libheadwise.a lib/libheadwise.so lib/libheadwise.so.0 \
    lib/pkgconfig/headwise.pc bin/headwise; do
    [ -e "$prefix/$f" ] || missing="$missing $f"
done
soname=$(objdump -p "$prefix/lib/libheadwise.so" 2>/dev/null | awk '$1 == "SONAME" {print $2}')
if [ -z "$missing" ] && [ "$soname" = libheadwise.so.0 ] && [ -L "$prefix/lib/libheadwise.so.0" ]; then
    pass "header, libheadwise.a, libheadwise.so (soname $soname), headwise and headwise.pc installed"
else
    fail "missing:${missing:- none}; soname [$soname]"
fi

cat >"$tmp/prog.c" <<'EOF'
/* Load a model and tokenizer, print the shape, greedily continue a prompt. */
#include <headwise.h>
#include <stdio.h>

static int print_piece(const char *piece, size_t len, void *user) {
    fwrite(piece, 1, len, stdout);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    hw_model *m = hw_model_load(argv[1]);
    hw_tokenizer *t = m ? hw_tokenizer_load(argv[2], hw_model_config(m)->vocab_size) : NULL;
    if (!t) {
        fprintf(stderr, "prog: %s\n", hw_last_error());
        return 1;
    }
    const hw_config *c = hw_model_config(m);
    printf("layers %d heads %d d_model %d vocab %d\n", c->n_layer, c->n_head, c->d_model,
           c->vocab_size);
    hw_generate_params p = hw_generate_params_default();
    p.n_steps = 24;
    p.sampler.temperature = 0;
    hw_status s = hw_generate(m, t, "Once upon a time", p, print_piece, NULL);
    printf("\n");
    if (s != HW_OK) fprintf(stderr, "prog: %s\n", hw_last_error());
    hw_tokenizer_free(t);
    hw_model_free(m);
    return s == HW_OK ? 0 : 1;
}
EOF
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
flags=$(pkg-config --cflags --libs headwise 2>"$tmp/pc.err")
if [ -z "$flags" ]; then
    fail "pkg-config --cflags --libs headwise: $(head -n1 "$tmp/pc.err")"
    exit 0
fi
# shellcheck disable=SC2086 # the flags are words
if cc -o "$tmp/prog" "$tmp/prog.c" $flags 2>"$tmp/cc.err"; then
    pass "a program compiles and links with only: pkg-config --cflags --libs headwise ($flags)"
else
    fail "cc prog.c \$(pkg-config --cflags --libs headwise): $(head -n3 "$tmp/cc.err")"
    exit 0
fi
LD_LIBRARY_PATH=$prefix/lib "$tmp/prog" "$model" "$tok" >"$tmp/out" 2>"$tmp/err"
rc=$?
lib=$(LD_LIBRARY_PATH=$prefix/lib ldd "$tmp/prog" | awk '/libheadwise/ {print $3}')
want=$("$prefix/bin/headwise" generate -m "$model" -z "$tok" -p "Once upon a time" -n 24 -t 0 2>/dev/null)
if [ $rc -eq 0 ] && [ "$(head -n1 "$tmp/out")" = "layers 5 heads 8 d_model 64 vocab 512" ] &&
    [ "$lib" = "$prefix/lib/libheadwise.so.0" ]; then
    pass "it runs against $lib and reads stories260K: $(head -n1 "$tmp/out")"
else
    fail "prog (status $rc, library [$lib]): [$(head -c 200 "$tmp/out")] $(head -n1 "$tmp/err")"
fi
got=$(tail -n +2 "$tmp/out")
case "$got" in
    "Once upon a time"?*) ok=1 ;;
    *) ok=0 ;;
esac
if [ $ok = 1 ] && [ "$got" = "$want" ]; then
    pass "its greedy continuation equals the installed CLI's: [$(printf '%s' "$got" | head -c 80)]"
else
    fail "continuation [$got] differs from the CLI's [$want]"
fi
# The static library with the private libraries headwise.pc lists for --static.
static_libs=$(pkg-config --static --libs headwise | sed 's/-lheadwise\b/-l:libheadwise.a/')
# shellcheck disable=SC2046,SC2086
if cc -o "$tmp/prog_static" "$tmp/prog.c" $(pkg-config --cflags headwise) $static_libs 2>"$tmp/cc.err" &&
    ! ldd "$tmp/prog_static" | grep -q libheadwise &&
    "$tmp/prog_static" "$model" "$tok" >"$tmp/out_static" 2>&1 && cmp -s "$tmp/out" "$tmp/out_static"; then
    pass "linked statically with pkg-config --static --libs ($static_libs), it prints the same"
else
    fail "static link or run ($static_libs): $(head -n2 "$tmp/cc.err") $(head -c 200 "$tmp/out_static" 2>/dev/null)"
fi
