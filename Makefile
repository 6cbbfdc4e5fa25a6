# headwise build. `make` builds the library and CLI, `make test` runs the suite,
# `make test SANITIZE=1` runs it under AddressSanitizer and UBSan, `make demo`
# sets up a fresh machine and trains a small model organism (or generates from
# MODEL=...), `make bench` measures.

CC      ?= cc
SHARED  ?= $(abspath ../shared)
# `make demo` with no MODEL trains the retrieval organism into DEMO_DIR; with MODEL
# (a .bin or a Hugging Face folder) it generates from that model.
MODEL   ?=
DEMO_DIR ?= build/organisms/retrieval
# stories260K's tokenizer is tok512.bin; other models use the CLI's default (the
# model's folder, or tokenizer.bin beside a .bin) unless TOKENIZER is given.
TOKENIZER ?= $(if $(filter %stories260K.bin,$(MODEL)),$(dir $(MODEL))tok512.bin)

WARN    := -std=c11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CPPFLAGS := -Iinclude -Isrc -D_GNU_SOURCE -I/usr/include/x86_64-linux-gnu/openblas-pthread -I/usr/include/cjson
LDLIBS  := -lopenblas -lcjson -lpcre2-8 -lm

ifeq ($(SANITIZE),1)
  BUILD  := build/san
  OPT    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
else
  BUILD  := build/rel
  OPT    := -O2 -g -march=native
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
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
# The commands without main(), for fuzz targets of readers that live in cli/.
CLI_LIB_OBJ := $(filter-out $(BUILD)/cli/main.o,$(CLI_OBJ))
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%) $(TOOL_SRC:tests/%.c=$(BUILD)/tests/%)
BENCHES  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
# Fuzz targets: in this build as replayers of their corpus and regressions
# (tests/fuzz_replay_test.sh); under libFuzzer in build/fuzz (`make fuzz`).
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
REPLAYS  := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
HEADERS  := include/headwise.h $(wildcard src/*.h src/*/*.h cli/*.h tests/*.h tests/fuzz/*.h)

.PHONY: all test demo bench fuzz clean
.SECONDARY: # keep test and bench objects between builds
all: $(BUILD)/libheadwise.a $(BUILD)/libheadwise.so $(BUILD)/headwise $(TESTS) $(BENCHES) $(REPLAYS)
ifneq ($(SANITIZE),1)
	@ln -sfn $(notdir $(BUILD)) build/current
endif

$(BUILD)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/libheadwise.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libcli.a: $(CLI_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libheadwise.so: $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/headwise: $(CLI_OBJ) $(BUILD)/libheadwise.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/libheadwise.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libheadwise.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/fuzz/%: $(BUILD)/tests/fuzz/%.o $(BUILD)/tests/fuzz/replay.o $(BUILD)/libcli.a $(BUILD)/libheadwise.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The suite: every tests/test_* program and tests/*.sh script, counted by tests/run.sh.
test: all
	@HW_BUILD=$(BUILD) HW_SHARED=$(SHARED) tests/run.sh

demo:
	scripts/install-deps.sh
	$(MAKE) all
ifeq ($(MODEL),)
	@echo "Training the retrieval organism (a needle-in-a-haystack model, from scratch, about 3 minutes):"
	$(BUILD)/headwise organism retrieval -o "$(DEMO_DIR)" --show 4 >/dev/null
	@echo
	$(BUILD)/headwise info -m "$(DEMO_DIR)"
	@echo
	@echo "Its files are in $(DEMO_DIR): config.json, model.safetensors and tokenizer.json (a Hugging"
	@echo "Face Llama folder every command loads) and training.json (settings, loss, speed, accuracy)."
	@echo
	@echo "The folder loads with every command, e.g. generate (greedy; the answer is v7 v8 v9):"
	$(BUILD)/headwise generate -m "$(DEMO_DIR)" -t 0 -n 15 -p "w1 w2 key k5 is v7 v8 v9 w3 Q: k5 A:"
else
	@test -e "$(MODEL)" || { echo "demo: no model at $(MODEL); give one with MODEL=path/to/model.bin or a Hugging Face folder" >&2; exit 1; }
	$(BUILD)/headwise info -m "$(MODEL)"
	$(BUILD)/headwise generate -m "$(MODEL)" $(if $(TOKENIZER),-z "$(TOKENIZER)") -p "Once upon a time" -n 200 -t 0.8 -s 42
endif

# The engine benchmark, then every bench/*.sh script (bench_forward is their tool).
bench: all
	@OMP_WAIT_POLICY=PASSIVE OPENBLAS_THREAD_TIMEOUT=4 $(BUILD)/bench/bench_engine
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
FUZZ_CLI_OBJ := $(filter-out build/fuzz/cli/main.o,$(CLI_SRC:%.c=build/fuzz/%.o))

build/fuzz/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -c $< -o $@

build/fuzz/libheadwise.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/fuzz/libcli.a: $(FUZZ_CLI_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c build/fuzz/libcli.a build/fuzz/libheadwise.a $(HEADERS)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< build/fuzz/libcli.a build/fuzz/libheadwise.a -o $@ $(LDLIBS)

fuzz: $(FUZZERS)
	@HW_SHARED=$(SHARED) tests/fuzz/run.sh $(FUZZ_SECONDS)

clean:
	rm -rf build
