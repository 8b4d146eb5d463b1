# hookd - one Makefile for the binary, the tests, the benchmark and the two
# commands a new user types: `make run` and `make test`.

CC      ?= gcc
WARN    := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wformat=2 -Wvla -Werror
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -I/usr/include/postgresql -Iserver $(WARN)
CFLAGS  ?= -O2 -g
SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all \
           -fno-omit-frame-pointer
LIBS    := -lmicrohttpd -lpq -lcurl -lssl -lcrypto -ljansson -luuid \
           -lpthread -lm

# server/ holds the flat modules, server/engine/ the delivery engine's
# parts (docs/engine.md); objects keep the same layout under build/.
SRC      := $(wildcard server/*.c server/engine/*.c)
HDR      := $(wildcard server/*.h server/engine/*.h)
# docs/openapi.json is the API's one description; the build embeds it as a
# generated C array (od and awk are in every Debian, unlike xxd).
OBJ      := $(SRC:server/%.c=build/obj/%.o) build/obj/openapi_doc.o
ASAN_OBJ := $(SRC:server/%.c=build/asan/obj/%.o) build/asan/obj/openapi_doc.o
LIB_ASAN_OBJ := $(filter-out build/asan/obj/main.o,$(ASAN_OBJ))

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=build/asan/unit/%)
E2E_SRC  := $(wildcard tests/e2e/test_*.c)
E2E_LIB  := $(filter-out $(E2E_SRC),$(wildcard tests/e2e/*.c))
E2E_HDR  := $(wildcard tests/e2e/*.h)
E2E_BIN  := $(E2E_SRC:tests/e2e/%.c=build/asan/e2e/%)
BENCH_SRC := $(wildcard tests/bench/*.c)
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=build/bench/%)

# libFuzzer targets (tests/fuzz/fuzz_NAME.c, seeds in tests/fuzz/seeds/NAME/)
# need clang: gcc has no -fsanitize=fuzzer. They link every server object
# but main.o, built again with clang's coverage instrumentation.
FUZZ_CC   := clang
FUZZ_SAN  := -fsanitize=address,undefined -fno-sanitize-recover=all \
             -fno-omit-frame-pointer
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN  := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_OBJ  := $(filter-out build/fuzz/obj/main.o,$(SRC:server/%.c=build/fuzz/obj/%.o)) \
             build/fuzz/obj/openapi_doc.o
# `make fuzz` runs each target this many seconds (FUZZ_SECONDS=600 for a
# longer hunt); `make test` runs each for FUZZ_RUNS inputs instead.
FUZZ_SECONDS ?= 60

# The ThreadSanitizer build of hookd: `make tsan` runs the end-to-end
# tests that drive the dispatcher, API and delivery threads against it.
TSAN_OBJ := $(SRC:server/%.c=build/tsan/obj/%.o) build/tsan/obj/openapi_doc.o
LIB_TSAN_OBJ := $(filter-out build/tsan/obj/main.o,$(TSAN_OBJ))
TSAN_SAN := -fsanitize=thread -fno-omit-frame-pointer
# and the unit tests of the modules that run threads of their own: the
# HTTP layer (accept thread, pool, long-poll waiter), delivery (the
# libcurl thread) and ingest grouping
TSAN_UNIT := $(patsubst %,build/tsan/unit/%,test_http test_deliver test_fanout)

.PHONY: all deps run stop test bench schema lint format clean test-build \
        fuzz fuzz-build tsan tsan-build

all: build/hookd

build/obj/%.o: server/%.c $(HDR) | build/obj
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -c $< -o $@

build/asan/obj/%.o: server/%.c $(HDR) | build/asan/obj
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -O1 -g $(SAN) -c $< -o $@

build/gen/openapi_doc.c: docs/openapi.json | build/gen
	@{ echo '/* generated from docs/openapi.json by the Makefile: edit that file */'; \
	  echo '#include "openapi.h"'; \
	  echo 'const unsigned char hk_openapi_doc[] = {'; \
	  od -An -v -tx1 $< | awk '{ for (i = 1; i <= NF; i++) printf "0x%s,", $$i; print "" }'; \
	  echo '};'; \
	  echo 'const size_t hk_openapi_doc_len = sizeof(hk_openapi_doc);'; } >$@.tmp
	@mv $@.tmp $@

build/obj/openapi_doc.o: build/gen/openapi_doc.c server/openapi.h | build/obj
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -c $< -o $@

build/asan/obj/openapi_doc.o: build/gen/openapi_doc.c server/openapi.h | build/asan/obj
	$(CC) $(CFLAGS_BASE) -O1 -g $(SAN) -c $< -o $@

build/fuzz/obj/openapi_doc.o: build/gen/openapi_doc.c server/openapi.h | build/fuzz/obj
	$(FUZZ_CC) $(CFLAGS_BASE) -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
	    -c $< -o $@

build/tsan/obj/openapi_doc.o: build/gen/openapi_doc.c server/openapi.h | build/tsan/obj
	$(CC) $(CFLAGS_BASE) -O1 -g $(TSAN_SAN) -c $< -o $@

build/hookd: $(OBJ)
	$(CC) $(CFLAGS) -o $@ $(OBJ) $(LIBS)

build/asan/hookd: $(ASAN_OBJ)
	$(CC) $(SAN) -o $@ $(ASAN_OBJ) $(LIBS)

build/asan/unit/%: tests/unit/%.c $(LIB_ASAN_OBJ) $(HDR) | build/asan/unit
	$(CC) $(CFLAGS_BASE) -O1 -g $(SAN) -o $@ $< $(LIB_ASAN_OBJ) $(LIBS) -lcmocka

build/asan/e2e/%: tests/e2e/%.c $(E2E_LIB) $(E2E_HDR) $(LIB_ASAN_OBJ) $(HDR) | build/asan/e2e
	$(CC) $(CFLAGS_BASE) -Itests/e2e -O1 -g $(SAN) -o $@ $< $(E2E_LIB) \
	    $(LIB_ASAN_OBJ) $(LIBS) -lcmocka

# The benchmark's sink and load generator stand alone: they talk to hookd
# over HTTP only, so they do not link its objects.
build/bench/%: tests/bench/%.c | build/bench
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -o $@ $< $(LIBS)

build/fuzz/obj/%.o: server/%.c $(HDR) | build/fuzz/obj
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CFLAGS_BASE) -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
	    -c $< -o $@

build/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(FUZZ_OBJ) $(HDR) | build/fuzz/obj
	$(FUZZ_CC) $(CFLAGS_BASE) -Itests/fuzz -O1 -g $(FUZZ_SAN) \
	    -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(LIBS)

build/tsan/obj/%.o: server/%.c $(HDR) | build/tsan/obj
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_BASE) -O1 -g $(TSAN_SAN) -c $< -o $@

build/tsan/hookd: $(TSAN_OBJ)
	$(CC) $(TSAN_SAN) -o $@ $(TSAN_OBJ) $(LIBS)

build/tsan/unit/%: tests/unit/%.c $(LIB_TSAN_OBJ) $(HDR) | build/tsan/unit
	$(CC) $(CFLAGS_BASE) -O1 -g $(TSAN_SAN) -o $@ $< $(LIB_TSAN_OBJ) $(LIBS) \
	    -lcmocka

build/obj build/asan/obj build/asan/unit build/asan/e2e build/bench \
build/fuzz/obj build/tsan/obj build/tsan/unit build/gen:
	mkdir -p $@

# Everything the test run needs, built with the sanitizers.
test-build: build/hookd build/asan/hookd $(UNIT_BIN) $(E2E_BIN) \
            $(FUZZ_BIN) build/tsan/hookd $(TSAN_UNIT)

fuzz-build: $(FUZZ_BIN)

tsan-build: build/tsan/hookd $(TSAN_UNIT) $(E2E_BIN)

deps:
	@scripts/deps.sh

run:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory build/hookd
	@scripts/run.sh

test:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory -j2 test-build
	@scripts/test.sh

# Each fuzz target for FUZZ_SECONDS, growing its corpus in build/fuzz/corpus
# (the checked-in seeds are read, never written); a crashing input is saved
# as build/fuzz/crash/NAME-*. See docs/testing.md.
fuzz:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory -j2 fuzz-build
	@FUZZ_SECONDS='$(FUZZ_SECONDS)' FUZZ_ONLY='$(FUZZ_ONLY)' scripts/fuzz.sh

# The threaded modules' unit tests and the engine's end-to-end tests
# against the ThreadSanitizer build.
tsan:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory -j2 tsan-build
	@TEST=tsan_ TSAN_TESTS='$(TSAN_TESTS)' scripts/test.sh

stop:
	@scripts/pg.sh stop .data/pg

# docs/schema.sql: the schema the migrations produce, checked by make test.
schema:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory build/hookd
	@scripts/schema.sh

bench:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory -j2 build/hookd $(BENCH_BIN)
	@SCENARIO='$(SCENARIO)' QUICK='$(QUICK)' STATEMENTS='$(STATEMENTS)' \
	    SUSTAINED_RATE='$(SUSTAINED_RATE)' SUSTAINED_SECS='$(SUSTAINED_SECS)' \
	    BENCH_HOOKD='$(BENCH_HOOKD)' BENCH_MIGRATIONS='$(BENCH_MIGRATIONS)' \
	    CEIL_HTTP_N='$(CEIL_HTTP_N)' CEIL_PG_SECS='$(CEIL_PG_SECS)' scripts/bench.sh

# Functions that have no place in hookd: unbounded copies and unchecked
# conversions. The scripts pass shellcheck (Debian's, installed by
# `scripts/deps.sh test`).
BANNED := strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atoll|alloca
lint:
	@if grep -nE '\b($(BANNED))\s*\(' server/*.c server/*.h \
	    server/engine/*.c server/engine/*.h tests/*/*.c; then \
	    echo "lint: banned function used (see above)"; exit 1; \
	fi
	@command -v shellcheck >/dev/null || \
	    { echo "lint: shellcheck is missing (scripts/deps.sh test)"; exit 1; }
	@shellcheck scripts/*.sh || { echo "lint: shellcheck failed (see above)"; exit 1; }
	@echo "lint: ok"

format:
	clang-format -i server/*.c server/*.h server/engine/*.[ch] tests/*/*.c \
	    tests/fuzz/*.h

clean:
	rm -rf build
