#!/usr/bin/env bash
# layers_test.sh: the library's layers hold. Data flows downward only: a layer may use
# the layers listed after it here (the allowed DAG, read by this script from these lines)
# and nothing above it. Bottom up:
#
#   core:
#   io: core
#   tokenizer: core io
#   model: core io tokenizer
#   heads: core io tokenizer model
#   tasks: core io tokenizer model heads
#   train: core io tokenizer model heads tasks
#   report: core io tokenizer model heads
#   eval: core io tokenizer model heads tasks train report
#   methods: core io tokenizer model heads tasks train eval report
#   cli: core io tokenizer model heads tasks train eval methods report
#
# core is kernels, threads, errors, the RNG; io is files to configs and weights
# (loaders fill an hw_loaded, src/io/load.h, and the model binds it: io never sees a
# model), atomic output files; model is the forward, its context, generation and hook
# dispatch (the hook list, names and the two-pass visit, src/model/hooks.c); heads is
# captures and interventions built on hooks; report reads and writes results (head
# scores, .npy, HTML): a utility for eval and methods, not used by the engine below it.
# src/internal.h and src/hw_limits.h are shared by every layer (declarations and
# bounds, no layer of their own); include/headwise.h is the API.
#
# Two checks, each printing one FAIL line per forbidden edge:
#  1. includes: every #include "..." in src/, cli/ and tests/fuzz/, resolved as the
#     compiler does (the including file's folder, then include/, then src/); a header
#     under src/LAYER/ belongs to LAYER, one under cli/ to cli. Fuzz targets may include
#     library internals but nothing from cli/.
#  2. calls (nm, on the objects of $HW_BUILD): an undefined symbol of src/A/x.o that an
#     object of src/B/ defines is an edge A -> B; a tests/fuzz object may not need a
#     symbol defined in cli/. This catches calls declared in the shared internal.h,
#     which the include check cannot see (how io once called hw_model_alloc).
set -u
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
/usr/bin/python3 - "$0" "$build" <<'EOF'
import os, re, subprocess, sys

script, build = sys.argv[1], sys.argv[2]
allowed = {}
for line in open(script):
    m = re.match(r"^#   (\w+):(.*)$", line)
    if m:
        allowed[m.group(1)] = set(m.group(2).split())
shared = {"src/internal.h", "src/hw_limits.h", "include/headwise.h"}
fails = []


def layer_of(path):
    """The layer a source or header belongs to, 'shared', 'fuzz', or None."""
    if path in shared:
        return "shared"
    parts = path.split("/")
    if parts[0] == "src" and len(parts) == 3 and parts[1] in allowed:
        return parts[1]
    if parts[0] == "cli":
        return "cli"
    if path.startswith("tests/fuzz/"):
        return "fuzz"
    return None

def resolve(src, inc):
    for d in (os.path.dirname(src), "include", "src"):
        p = os.path.normpath(os.path.join(d, inc))
        if os.path.exists(p):
            return p
    return None

def fuzz_uses_cli(src, what):
    fails.append(f"{src}: {what} (fuzz targets may not use cli/ code)")

def check_edge(src, what, a, b):
    if a == "fuzz":
        if b == "cli":
            fuzz_uses_cli(src, what)
    elif b not in ("shared", None, a) and b not in allowed.get(a, ()):
        fails.append(f"{src}: {what}: {a} -> {b} is not allowed")

# 1. includes
sources = []
for top in ("src", "cli", "tests/fuzz"):
    for d, _, files in os.walk(top):
        sources += [os.path.join(d, f) for f in files if f.endswith((".c", ".h"))]
n_inc = 0
for src in sorted(sources):
    a = layer_of(src)
    if a is None:
        fails.append(f"{src}: not in a known layer (add its folder to the DAG in {script})")
        continue
    for line in open(src, errors="replace"):
        m = re.match(r'\s*#\s*include\s*"([^"]+)"', line)
        if not m:
            continue
        n_inc += 1
        h = resolve(src, m.group(1))
        if h is None:
            fails.append(f'{src}: #include "{m.group(1)}" resolves to no file')
            continue
        check_edge(src, f'#include "{m.group(1)}" ({h})', a, layer_of(h))

# 2. calls, from the objects of the current sources only (stale objects are ignored)
def objects(top):
    out = []
    for d, _, files in os.walk(top):
        out += [os.path.join(d, f) for f in files if f.endswith(".c")]
    return {s: os.path.join(build, s[:-2] + ".o") for s in sorted(out)}

objs = {**objects("src"), **objects("cli"), **objects("tests/fuzz")}
missing = [o for o in objs.values() if not os.path.exists(o)]
n_sym = 0
if missing:
    fails.append(f"{len(missing)} objects missing in {build} (e.g. {missing[0]}): build first (make all)")
else:
    def nm(*flags):
        """(object, symbol) pairs from one nm run over every object."""
        r = subprocess.run(["nm", "-A", *flags, *objs.values()], capture_output=True, text=True,
                           check=True)
        for l in r.stdout.splitlines():
            o, _, rest = l.partition(": ") if ": " in l else l.partition(":")
            if rest.split():
                yield o, rest.split()[-1]
    src_of = {o: s for s, o in objs.items()}
    defined = {}
    for o, sym in nm("-g", "--defined-only"):
        if layer_of(src_of[o]) != "fuzz":
            defined.setdefault(sym, layer_of(src_of[o]))
    for o, sym in nm("-u"):
        b = defined.get(sym)
        if b is not None:
            n_sym += 1
            check_edge(src_of[o], f"calls {sym}", layer_of(src_of[o]), b)

for f in fails:
    print("FAIL layers: " + f)
if not fails:
    print(f"PASS layers: {n_inc} includes and {n_sym} cross-object calls in src/, cli/ and tests/fuzz follow the DAG")
EOF
