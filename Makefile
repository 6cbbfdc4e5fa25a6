# headwise build. `make` builds the library and CLI, `make test` runs the suite,
# `make test SANITIZE=1` runs it under AddressSanitizer and UBSan, `make demo`
# sets up a fresh machine, trains a small model organism and shows its head atlas (or
# that of MODEL=...), `make bench` measures, `make install PREFIX=...` installs the header,
# both libraries, the CLI and headwise.pc.

CC      ?= cc
PKG_CONFIG ?= pkg-config
SHARED  ?= $(abspath ../shared)
PREFIX  ?= /usr/local
# The library's version; the shared library's soname is libheadwise.so.$(SOVERSION).
VERSION   := 0.1.0
SOVERSION := 0
# `make demo` with no MODEL trains (or finds in the organism cache, scripts/organism.sh)
# the retrieval organism and runs `headwise atlas` on it; with MODEL (a .bin or a Hugging
# Face folder) the atlas of that model. A summary of a few lines (scripts/atlas_summary.py)
# goes to the screen; the build's and the runs' output to build/demo.log.
MODEL   ?=
# stories260K's tokenizer is tok512.bin; other models use the CLI's default (the
# model's folder, or tokenizer.bin beside a .bin) unless TOKENIZER is given.
TOKENIZER ?= $(if $(filter %stories260K.bin,$(MODEL)),$(dir $(MODEL))tok512.bin)

# OpenBLAS, cJSON and PCRE2 as their Debian .pc files describe them (the include paths
# are Debian's multiarch ones); today's Debian paths when pkg-config or a .pc is missing.
DEP_PKGS   := openblas libcjson libpcre2-8
DEP_PC     := $(shell $(PKG_CONFIG) --exists $(DEP_PKGS) 2>/dev/null && echo yes)
ifeq ($(DEP_PC),yes)
  DEP_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(DEP_PKGS))
  DEP_LIBS   := $(shell $(PKG_CONFIG) --libs $(DEP_PKGS))
else
  DEP_CFLAGS := -I/usr/include/x86_64-linux-gnu/openblas-pthread -I/usr/include/cjson
  DEP_LIBS   := -lopenblas -lcjson -lpcre2-8
endif

WARN    := -std=c11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CPPFLAGS := -Iinclude -Isrc -D_GNU_SOURCE $(DEP_CFLAGS)
LDLIBS  := $(DEP_LIBS) -lm
# zlib, when its .pc is there, for gzip corpora (headwise influence); headwise.pc lists it.
ifeq ($(shell $(PKG_CONFIG) --exists zlib 2>/dev/null && echo yes),yes)
  CPPFLAGS += -DHW_HAVE_ZLIB
  LDLIBS   += -lz
  DEP_PKGS += zlib
  DEP_LIBS += -lz
endif
# Open MPI for `mpirun -np N headwise influence` (cli/mpi.c only; the library has no MPI):
# on when mpicc is found, MPI=0 to leave it out, MPI=1 to require it.
MPI ?= $(if $(shell command -v mpicc 2>/dev/null),1,0)
ifeq ($(MPI),1)
  MPI_CFLAGS := $(shell mpicc --showme:compile) -DHW_MPI
  MPI_LIBS   := $(shell mpicc --showme:link)
endif
# Each object records the headers it included (build/.../x.d, read below), so a header
# change rebuilds only what uses it; -MP keeps a deleted header from breaking the build.
DEPFLAGS = -MMD -MP

ifeq ($(SANITIZE),1)
  BUILD  := build/san
  OPT    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
  NATIVE :=
else
  BUILD  := build/rel
  OPT    := -O2 -g
  # For the static library, the CLI, tests and benchmarks: this machine's vector width
  # for the trainer's `omp simd` loops (training ran 10-20% slower without it, measured).
  # Not for the shared library (below), which other machines load: its speed comes from
  # src/core/simd.c's AVX2/AVX-512 kernels, compiled per function (target attributes)
  # and chosen at run time, so a portable build still uses them.
  NATIVE := -march=native
endif
CFLAGS  := $(WARN) $(OPT) -fPIC -fopenmp
LDFLAGS += -fopenmp

LIB_SRC  := $(sort $(wildcard src/*/*.c))
CLI_SRC  := $(sort $(wildcard cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
# Helpers that tests/*_test.sh scripts call (not run on their own by tests/run.sh).
TOOL_SRC := $(sort $(wildcard tests/tool_*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
# The shared library's own objects, compiled without $(NATIVE).
SO_OBJ   := $(LIB_SRC:%.c=$(BUILD)/so/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%) $(TOOL_SRC:tests/%.c=$(BUILD)/tests/%)
BENCHES  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
# Fuzz targets: in this build as replayers of their corpus and regressions
# (tests/fuzz_replay_test.sh); under libFuzzer in build/fuzz (`make fuzz`).
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
REPLAYS  := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
ALL_OBJ  := $(LIB_OBJ) $(SO_OBJ) $(CLI_OBJ) $(TEST_SRC:%.c=$(BUILD)/%.o) $(TOOL_SRC:%.c=$(BUILD)/%.o) \
            $(BENCH_SRC:%.c=$(BUILD)/%.o) $(FUZZ_SRC:%.c=$(BUILD)/%.o) $(BUILD)/tests/fuzz/replay.o
SONAME   := libheadwise.so.$(SOVERSION)

.PHONY: all test demo bench fuzz install clean
.SECONDARY: $(ALL_OBJ) # keep test and bench objects between builds
all: $(BUILD)/libheadwise.a $(BUILD)/libheadwise.so $(BUILD)/headwise $(TESTS) $(BENCHES) $(REPLAYS)
ifneq ($(SANITIZE),1)
	@ln -sfn $(notdir $(BUILD)) build/current
endif

$(BUILD)/%.o: %.c $(BUILD)/%.d
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(NATIVE) $(DEPFLAGS) -c $< -o $@

# (The shorter stem wins, so $(BUILD)/so/... objects come from this rule.)
$(BUILD)/so/%.o: %.c $(BUILD)/so/%.d
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/libheadwise.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# libheadwise.so (the name ctypes and -lheadwise look for) with the soname the installed
# copy is known by, and a link of that name beside it for programs linked to this one.
$(BUILD)/libheadwise.so: $(SO_OBJ)
	$(CC) -shared $(LDFLAGS) -Wl,-soname,$(SONAME) -o $@ $^ $(LDLIBS)
	@ln -sf libheadwise.so $(BUILD)/$(SONAME)

$(BUILD)/cli/mpi.o: CPPFLAGS += $(MPI_CFLAGS)
$(BUILD)/headwise: $(CLI_OBJ) $(BUILD)/libheadwise.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(MPI_LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/libheadwise.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libheadwise.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/fuzz/%: $(BUILD)/tests/fuzz/%.o $(BUILD)/tests/fuzz/replay.o $(BUILD)/libheadwise.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(BUILD)/libheadwise.a $(LDLIBS)

# The suite: every tests/test_* program and tests/*.sh script, counted by tests/run.sh.
test: all
	@HW_BUILD=$(BUILD) HW_SHARED=$(SHARED) tests/run.sh

demo:
	@mkdir -p build
	@echo "headwise demo: installing packages and building (log: build/demo.log) ..."
	@{ scripts/install-deps.sh && $(MAKE) all; } >build/demo.log 2>&1 || { tail -n 20 build/demo.log; exit 1; }
ifeq ($(MODEL),)
	@echo "Training (or finding in the cache) the retrieval organism: a 4-layer needle-in-a-haystack"
	@echo "model, about 3 minutes the first time ..."
	@d=$$(scripts/organism.sh retrieval 2>>build/demo.log) || { tail -n 5 build/demo.log; exit 1; }; \
	echo "$(BUILD)/headwise atlas -m $$d -o build/demo-atlas"; \
	$(BUILD)/headwise atlas -m "$$d" -o build/demo-atlas >build/demo-atlas.txt 2>>build/demo.log || { tail -n 3 build/demo.log; exit 1; }; \
	/usr/bin/python3 scripts/atlas_summary.py build/demo-atlas/atlas.json
else
	@test -e "$(MODEL)" || { echo "demo: no model at $(MODEL); give one with MODEL=path/to/model.bin or a Hugging Face folder" >&2; exit 1; }
	@echo "$(BUILD)/headwise atlas -m $(MODEL) $(if $(TOKENIZER),-z $(TOKENIZER)) -o build/demo-atlas"
	@$(BUILD)/headwise atlas -m "$(MODEL)" $(if $(TOKENIZER),-z "$(TOKENIZER)") -o build/demo-atlas \
	    >build/demo-atlas.txt 2>>build/demo.log || { tail -n 3 build/demo.log; exit 1; }
	@/usr/bin/python3 scripts/atlas_summary.py build/demo-atlas/atlas.json
endif

# The engine benchmark, the KV-cache policies' benchmarks (full vs duo at 2K-16K tokens,
# 10-15 minutes on 2 cores; full vs longheads at 1K-16K, about 15 minutes), then every
# bench/*.sh script (bench_forward is their tool).
bench: all
	@OMP_WAIT_POLICY=PASSIVE OPENBLAS_THREAD_TIMEOUT=4 $(BUILD)/bench/bench_engine
	@OMP_WAIT_POLICY=PASSIVE OPENBLAS_THREAD_TIMEOUT=4 $(BUILD)/bench/bench_kv
	@OMP_WAIT_POLICY=PASSIVE OPENBLAS_THREAD_TIMEOUT=4 $(BUILD)/bench/bench_longheads
	@for s in bench/*.sh; do HW_BUILD=$(BUILD) $$s || exit 1; done

# Fuzzing: each tests/fuzz/fuzz_*.c under libFuzzer with ASan and UBSan for
# FUZZ_SECONDS, seeded from tests/fuzz/corpus and ../shared/models; exits
# non-zero on any crash, leak, timeout or sanitizer report. Library objects are
# built by clang into build/fuzz only, never into the normal builds.
FUZZ_SECONDS ?= 10
FUZZ_CC     := clang
FUZZ_CFLAGS := -std=c11 -O1 -g -fno-omit-frame-pointer -fopenmp \
               -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
               -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
FUZZERS     := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_OBJ    := $(LIB_SRC:%.c=build/fuzz/%.o)

build/fuzz/%.o: %.c build/fuzz/%.d
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) $(DEPFLAGS) -c $< -o $@

build/fuzz/libheadwise.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c build/fuzz/libheadwise.a
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) $(DEPFLAGS) -MF $@.d -MT $@ -fsanitize=fuzzer $< \
	    build/fuzz/libheadwise.a -o $@ $(LDLIBS)

fuzz: $(FUZZERS)
	@HW_SHARED=$(SHARED) tests/fuzz/run.sh $(FUZZ_SECONDS)

# Install the header, both libraries (the shared one as libheadwise.so.$(VERSION) with its
# soname link), the CLI and headwise.pc under $(DESTDIR)$(PREFIX). A C program then builds
# with `cc prog.c $$(pkg-config --cflags --libs headwise)`.
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
# headwise.pc: the libraries the static library needs, as packages when their .pc files
# exist (Requires.private would fail without them), else as -l flags.
ifeq ($(DEP_PC),yes)
  PC_PRIVATE := Requires.private: $(DEP_PKGS)\nLibs.private: -lgomp -lm
else
  PC_PRIVATE := Libs.private: $(DEP_LIBS) -lgomp -lm
endif
install: $(BUILD)/libheadwise.a $(BUILD)/libheadwise.so $(BUILD)/headwise
	install -d "$(DESTDIR)$(INCLUDEDIR)" "$(DESTDIR)$(LIBDIR)/pkgconfig" "$(DESTDIR)$(BINDIR)"
	install -m 644 include/headwise.h "$(DESTDIR)$(INCLUDEDIR)/headwise.h"
	install -m 644 $(BUILD)/libheadwise.a "$(DESTDIR)$(LIBDIR)/libheadwise.a"
	install -m 755 $(BUILD)/libheadwise.so "$(DESTDIR)$(LIBDIR)/libheadwise.so.$(VERSION)"
	ln -sf libheadwise.so.$(VERSION) "$(DESTDIR)$(LIBDIR)/$(SONAME)"
	ln -sf $(SONAME) "$(DESTDIR)$(LIBDIR)/libheadwise.so"
	install -m 755 $(BUILD)/headwise "$(DESTDIR)$(BINDIR)/headwise"
	printf '%b\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)' '' \
	    'Name: headwise' 'Description: attention heads of transformer models on the CPU' \
	    'Version: $(VERSION)' 'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -lheadwise' \
	    '$(PC_PRIVATE)' >"$(DESTDIR)$(LIBDIR)/pkgconfig/headwise.pc"

clean:
	rm -rf build

# The headers each object included (-MMD), so a header change rebuilds what uses it. An
# object whose .d is missing (built before -MMD, or the file deleted) is rebuilt: the .d
# files are prerequisites with an empty rule.
DEPFILES := $(ALL_OBJ:.o=.d) $(LIB_SRC:%.c=build/fuzz/%.d) $(CLI_SRC:%.c=build/fuzz/%.d)
$(DEPFILES):
include $(wildcard $(DEPFILES) build/fuzz/fuzz_*.d)
