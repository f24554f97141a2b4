# swarm in C: build of the C node, its library, the OTP application and the tests.
#
#   make            C library (build/libswarm.a; for programs: priv/libswarm.a,
#                   priv/libswarm.so), C node binary (priv/swarm_node), the
#                   examples (examples/<name>.c -> priv/<name>), a check that
#                   include/swarm.h compiles alone (C, and C++ when a C++
#                   compiler is installed), Erlang app
#   make test       everything, then CUnit suites (plain, ASan/UBSan, valgrind),
#                   Dialyzer over erl_src/, the Elixir example's tests, Common
#                   Test suites
#   make dialyzer   Dialyzer over erl_src/ (specs and calls; ~30 s with a
#                   fresh PLT)
#   make mix-setup  gives mix Debian's rebar3 (once per machine; offline)
#   make examples-test  the Elixir example's ExUnit tests (examples/swarm_example,
#                   mix with swarm as a path dependency); part of make test
#   make demo       the local demo cluster (scripts/demo.sh)
#   make bench      the benchmarks (bench/)
#   make bench-peers  swarm in C against Swarm 3.4 and syn 3 in one run
#                   (bench/peers_run.sh; needs SWARM_PEERS_DIR, their builds)
#   make asan       C node and CUnit tests under AddressSanitizer + UBSan
#   make valgrind   CUnit tests under valgrind
#   make sim        the seeded cluster simulation alone, SIM_SCHEDULES
#                   schedules (200000; the CUnit runs take SW_SIM_SCHEDULES:
#                   10000 plain, ASAN_SIM_SCHEDULES under ASan,
#                   VALGRIND_SIM_SCHEDULES under valgrind)
#   make fuzz       libFuzzer targets (test/fuzz/), FUZZ_TIME s each (180)
#   make fuzz-smoke the same, FUZZ_SMOKE_TIME s each (5); part of make test
#   V=1             show full commands
#
# Sources: every c_src/*.c except main.c goes into build/libswarm.a; main.c is
# the thin program linking it. Every test/c/test_<mod>.c is one CUnit suite:
# it defines `int test_<mod>_suite(void)`; the suite table is generated.
#
# The library for C programs (include/swarm.h): priv/libswarm.a is a copy of
# build/libswarm.a (link it with -lei -luv -lssl -lcrypto -lpthread -lm);
# priv/libswarm.so holds the same objects built position-independent in
# build/pic/, with ei's static archive linked in and hidden, and exports only
# the swarm_* functions (c_src/libswarm.map). A program calling ei itself
# still links -lei: the copy inside the .so is the library's own.

# erl_interface's directory: rebar3 gives it to its hooks
# (ERLANG_LIB_DIR_erl_interface), which saves starting a BEAM to ask.
ifneq ($(ERLANG_LIB_DIR_erl_interface),)
ERL_ROOT     := $(ERLANG_LIB_DIR_erl_interface)
else
ERL_ROOT     := $(shell erl -noshell -eval 'io:format("~s",[code:lib_dir(erl_interface)]),halt().' 2>/dev/null)
endif
EI_INC       := $(ERL_ROOT)/include
EI_LIB       := $(ERL_ROOT)/lib

BUILD        ?= build
CC           ?= cc
OPT          ?= -O2 -g
CFLAGS_BASE  := -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -MMD -MP \
                -Ic_src -Iinclude -I$(EI_INC) $(OPT)
CFLAGS       += $(CFLAGS_BASE) $(EXTRA_CFLAGS)
LDLIBS       += -L$(EI_LIB) -lei -luv -lssl -lcrypto -lpthread -lm $(EXTRA_LDFLAGS)

LIB_SRC      := $(filter-out c_src/main.c,$(wildcard c_src/*.c))
LIB_OBJ      := $(LIB_SRC:c_src/%.c=$(BUILD)/%.o)
LIB          := $(BUILD)/libswarm.a
NODE_BIN     := priv/swarm_node
PRIV_LIB     := priv/libswarm.a
PRIV_SO      := priv/libswarm.so
PIC_OBJ      := $(LIB_SRC:c_src/%.c=$(BUILD)/pic/%.o)
SO_MAP       := c_src/libswarm.map

# Example programs: examples/<name>.c -> priv/<name>, compiled against the
# public headers only (no c_src/) and linked with the static library.
EXAMPLE_SRC  := $(wildcard examples/*.c)
EXAMPLE_BIN  := $(EXAMPLE_SRC:examples/%.c=priv/%)
PUB_CFLAGS   := -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Iinclude -I$(EI_INC) \
                $(OPT) $(EXTRA_CFLAGS)
CXX          ?= c++
HDR_CHECK    := $(BUILD)/swarm_h.ok

TEST_SRC     := $(wildcard test/c/test_*.c)
TEST_OBJ     := $(TEST_SRC:test/c/%.c=$(BUILD)/test/%.o)
TEST_AUX_SRC := $(filter-out $(TEST_SRC),$(wildcard test/c/*.c))
TEST_BIN     := $(BUILD)/test/run_tests

ifeq ($(V),1)
Q :=
else
Q := @
endif

.PHONY: progs all c erl test ctest ct demo bench bench-peers asan valgrind clean deps dialyzer \
        fuzz fuzz-smoke fuzz-build sim doc-chunks mix-setup examples-test

all: c erl

c: $(NODE_BIN) $(LIB) progs $(PRIV_LIB) $(PRIV_SO) $(EXAMPLE_BIN) $(HDR_CHECK)

deps:
	$(Q)scripts/install-deps.sh

$(BUILD)/%.o: c_src/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(NODE_BIN): $(BUILD)/main.o $(LIB)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $(BUILD)/main.o $(LIB) $(LDLIBS)

# ---- the library for C programs ---------------------------------------------
$(PRIV_LIB): $(LIB)
	@mkdir -p $(@D)
	$(Q)cp $< $@

$(BUILD)/pic/%.o: c_src/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC PIC  $<")
	$(Q)$(CC) $(CFLAGS) -fPIC -c $< -o $@

# libei.a is built position-independent by OTP's packages (x86-64: only
# PC-relative and GOT relocations), so it links into a shared object;
# --no-undefined proves the .so needs nothing beyond its listed libraries.
$(PRIV_SO): $(PIC_OBJ) $(SO_MAP)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -shared -Wl,-soname,libswarm.so -Wl,--version-script=$(SO_MAP) \
	  -Wl,--no-undefined -o $@ $(PIC_OBJ) $(LDLIBS)

$(EXAMPLE_BIN): priv/%: examples/%.c $(LIB)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC LD   $<")
	$(Q)$(CC) $(PUB_CFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# include/swarm.h compiles alone, as C and (if a C++ compiler is installed)
# as C++: its includes and extern "C" are complete.
$(HDR_CHECK): include/swarm.h
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CHECK   $<")
	$(Q)printf '#include "swarm.h"\n' | $(CC) $(PUB_CFLAGS) -x c -fsyntax-only -
	$(Q)if command -v $(CXX) >/dev/null 2>&1; then \
	  printf '#include "swarm.h"\n' | \
	  $(CXX) -Wall -Wextra -Werror -Iinclude -I$(EI_INC) -x c++ -fsyntax-only -; \
	fi
	$(Q)touch $@

# ---- CUnit ----------------------------------------------------------------
$(BUILD)/test/suites.h: $(TEST_SRC)
	@mkdir -p $(@D)
	$(Q)for f in $(notdir $(basename $(TEST_SRC))); do echo "SW_SUITE($${f#test_})"; done > $@.tmp && mv $@.tmp $@

$(BUILD)/test/%.o: test/c/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -I$(BUILD)/test -c $< -o $@

$(BUILD)/test/run_tests.o: test/c/run_tests.c $(BUILD)/test/suites.h

$(TEST_BIN): $(TEST_AUX_SRC:test/c/%.c=$(BUILD)/test/%.o) $(TEST_OBJ) $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $(filter %.o,$^) $(LIB) $(LDLIBS) -lcunit

# Standalone test programs: test/c/progs/<name>.c -> $(BUILD)/progs/<name>
PROG_SRC     := $(wildcard test/c/progs/*.c)
PROG_BIN     := $(PROG_SRC:test/c/progs/%.c=$(BUILD)/progs/%)

$(BUILD)/progs/%.o: test/c/progs/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/progs/%: $(BUILD)/progs/%.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS)

progs: $(PROG_BIN)

ctest: $(TEST_BIN)
	$(Q)$(TEST_BIN)

# Schedules of test_sim.c's cluster simulation per run.
SIM_SCHEDULES          ?= 200000
ASAN_SIM_SCHEDULES     ?= 1000
VALGRIND_SIM_SCHEDULES ?= 150
# Under valgrind, also fewer seeds of the model tests (test_htab.c: 20 in
# the plain run) and of the tracker's random schedules (200 random and 100
# churn seeds in the plain run).
VALGRIND_MODEL_SEEDS   ?= 5
VALGRIND_TRACKER_SEEDS ?= 40

sim: $(TEST_BIN)
	$(Q)SW_SIM_SCHEDULES=$(SIM_SCHEDULES) $(TEST_BIN) sim

# ---- Erlang ----------------------------------------------------------------
erl: $(NODE_BIN)
	$(Q)rebar3 compile

# EEP-48 doc chunks of the modules (`h Swarm.register_name` in iex), in the
# doc/ next to the ebin rebar3 writes: mix's build directory of the
# dependency when mix runs rebar3 (REBAR_BARE_COMPILER_OUTPUT_DIR), else
# rebar3's profile directory (REBAR_BUILD_DIR), else its default. rebar3's
# pre_hooks make this target; the stamp keeps a build where no source
# changed from starting the escript.
ERL_APP_DIR  := $(or $(REBAR_BARE_COMPILER_OUTPUT_DIR),$(if $(REBAR_BUILD_DIR),$(REBAR_BUILD_DIR)/lib/swarm),_build/default/lib/swarm)
DOC_STAMP    := $(ERL_APP_DIR)/doc/chunks/.stamp

doc-chunks: $(DOC_STAMP)

$(DOC_STAMP): $(wildcard erl_src/*.erl)
	$(Q)escript scripts/doc_chunks.escript $(ERL_APP_DIR)
	$(Q)touch $@

ct: all
	$(Q)scripts/ct.sh

# Fails on any warning (rebar.config: unmatched returns, error handling).
dialyzer: erl
	$(Q)rebar3 dialyzer

# ---- Elixir: the example application (examples/swarm_example) -------------
# mix builds swarm (a path dependency, manager: :rebar3) with rebar3. Without
# a rebar3 of its own, mix offers to download one from Hex; mix-setup gives
# it Debian's instead, once per machine and user (it replaces a rebar3 that
# mix installed before), with no network.
REBAR3       ?= $(shell command -v rebar3)
EX_APP       := examples/swarm_example
# Plain `mix test`, on an unnamed node: the cluster tests start distribution
# themselves (and swarm then joins the cluster they build).
EX_TEST      ?= mix test

mix-setup:
	$(Q)mix local.rebar rebar3 $(REBAR3) --force

examples-test: mix-setup
	$(Q)cd $(EX_APP) && $(EX_TEST)

test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory ctest
	$(Q)$(MAKE) --no-print-directory asan-test
	$(Q)$(MAKE) --no-print-directory fuzz-smoke
	$(Q)$(MAKE) --no-print-directory valgrind
	$(Q)$(MAKE) --no-print-directory dialyzer
	$(Q)$(MAKE) --no-print-directory examples-test
	$(Q)scripts/ct.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/demo.sh

bench: all
	$(Q)bench/run.sh

bench-peers: all
	$(Q)bench/peers_run.sh

# Sanitizer build lives in its own tree so objects never mix.
asan:
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan CC=clang \
	  OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" build-asan/test/run_tests build-asan/swarm_node \
	  build-asan/sensor_host

build-asan/swarm_node: build-asan/main.o build-asan/libswarm.a
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The example C host under the sanitizers (host_SUITE runs it).
build-asan/sensor_host: examples/sensor_host.c build-asan/libswarm.a
	$(Q)$(CC) $(PUB_CFLAGS) -o $@ $^ $(LDLIBS)

asan-test: asan
	$(Q)ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  SW_SIM_SCHEDULES=$(ASAN_SIM_SCHEDULES) build-asan/test/run_tests

# ---- libFuzzer -------------------------------------------------------------
# One target per test/fuzz/fuzz_<target>.c (fuzz_world.c is shared), built
# with clang in build-fuzz/: the library instrumented with fuzzer-no-link,
# the harnesses linked with the fuzzer runtime. scripts/fuzz.sh runs each on
# a copy of test/fuzz/corpus/<target>/ and fails on any finding.
FUZZ_TIME       ?= 180
FUZZ_SMOKE_TIME ?= 5
FUZZ_SAN        := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_OPT        := -O1 -g -fno-omit-frame-pointer
FUZZ_SRC        := $(wildcard test/fuzz/fuzz_*.c)
FUZZ_AUX        := test/fuzz/fuzz_world.c
FUZZ_TARGETS    := $(patsubst test/fuzz/fuzz_%.c,%,$(filter-out $(FUZZ_AUX),$(FUZZ_SRC)))
FUZZ_BINS       := $(FUZZ_TARGETS:%=build-fuzz/fuzz/fuzz_%)

fuzz-build:
	$(Q)$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang \
	  OPT="$(FUZZ_OPT) -fsanitize=fuzzer-no-link $(FUZZ_SAN)" build-fuzz/libswarm.a
	$(Q)$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang \
	  OPT="$(FUZZ_OPT) -fsanitize=fuzzer-no-link $(FUZZ_SAN)" $(FUZZ_BINS)

build-fuzz/fuzz/obj/%.o: test/fuzz/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -Itest/fuzz -c $< -o $@

.PRECIOUS: build-fuzz/fuzz/obj/%.o

# The harnesses of a whole node (dist, peer_ops, local) link the shared world.
build-fuzz/fuzz/fuzz_%: build-fuzz/fuzz/obj/fuzz_%.o build-fuzz/fuzz/obj/fuzz_world.o build-fuzz/libswarm.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< \
	  $(if $(filter dist peer_ops local,$*),build-fuzz/fuzz/obj/fuzz_world.o) build-fuzz/libswarm.a $(LDLIBS)

fuzz: fuzz-build
	$(Q)scripts/fuzz.sh $(FUZZ_TIME) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	$(Q)scripts/fuzz.sh $(FUZZ_SMOKE_TIME) $(FUZZ_TARGETS)

valgrind: $(TEST_BIN)
	$(Q)SW_SIM_SCHEDULES=$(VALGRIND_SIM_SCHEDULES) SW_TEST_MODEL_SEEDS=$(VALGRIND_MODEL_SEEDS) \
	  SW_SIM_RANDOM_SEEDS=$(VALGRIND_TRACKER_SEEDS) SW_SIM_CHURN_SEEDS=$(VALGRIND_TRACKER_SEEDS) valgrind --error-exitcode=1 --leak-check=full \
	  --errors-for-leak-kinds=definite -q $(TEST_BIN)

clean:
	rm -rf build build-asan build-fuzz priv/swarm_node $(PRIV_LIB) $(PRIV_SO) $(EXAMPLE_BIN) _build \
	  $(EX_APP)/_build $(EX_APP)/deps

-include $(LIB_OBJ:.o=.d) $(PIC_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(TEST_AUX_SRC:test/c/%.c=$(BUILD)/test/%.d) \
         $(BUILD)/main.d \
         $(wildcard build-fuzz/fuzz/obj/*.d)
