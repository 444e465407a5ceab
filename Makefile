# idgate - top-level build.  `make help` lists the targets.
#
# Dependencies: Debian packages (deps/packages.txt) plus mbedTLS 3.6 and
# liburing 2.9 built here from Debian's source packages (deps/*.sh) into
# build/, rebuilt only when their recipe changes.

CC      ?= cc
SAN     ?=
# ACCEL=0: mbedTLS's own elliptic curves instead of idgate's accelerator
# driver (common/accel), in a build of its own (build/*-noaccel, bin/noaccel).
ACCEL   ?= 1
NOACCEL := $(if $(filter 0,$(ACCEL)),-noaccel)
B       := build
MBED    := $(B)/mbedtls$(NOACCEL)
URING   := $(B)/liburing

CFLAGS  := -std=gnu11 -O2 -g -Wall -Wextra -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wno-unused-parameter -Werror -D_GNU_SOURCE \
	   -I$(MBED)/include -I$(URING)/include -I/usr/include/p11-kit-1 \
	   -DMBEDTLS_USER_CONFIG_FILE='"idgate_mbedtls_config.h"'
LDLIBS  := $(MBED)/lib/libmbedtls.a $(MBED)/lib/libmbedx509.a \
	   $(MBED)/lib/libmbedcrypto.a $(URING)/lib/liburing.a \
	   -llmdb -linih -ljansson -lsodium -lcrypto -ldl -lpthread -lm
ifeq ($(SAN),1)
  B_OBJ := $(B)/san$(NOACCEL)
  CFLAGS += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	    -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
else
  B_OBJ := $(B)/obj$(NOACCEL)
endif
BIN := bin$(if $(filter 1,$(SAN)),/san)$(if $(NOACCEL),/noaccel)

# DPDK (Debian's dpdk-dev) for the kernel-bypass backend, dataplane/dpdk.c.
# Its flags (-march=corei7, -include rte_config.h, its includes) go to that
# one object and its libraries to idgated only: nothing else sees DPDK, and
# the unit tests do not link it.  Without libdpdk, dpdk.c builds as a stub
# whose --backend dpdk says so.
ifeq ($(shell pkg-config --exists libdpdk && echo y),y)
  DPDK_CFLAGS := $(shell pkg-config --cflags libdpdk)
  DPDK_LIBS   := $(shell pkg-config --libs libdpdk)
else
  DPDK_CFLAGS := -DIG_NO_DPDK
  DPDK_LIBS   :=
endif
# Quiet build lines; V=1 shows the commands.
Q := $(if $(filter 1,$(V)),,@)

COMMON_SRC := $(wildcard common/*.c)
DP_SRC     := $(filter-out dataplane/main.c dataplane/dpdk.c,\
		$(wildcard dataplane/*.c dataplane/ustack/*.c))
HSM_SRC    := $(wildcard hsm/*.c)
LIB_OBJ    := $(patsubst %.c,$(B_OBJ)/%.o,$(COMMON_SRC) $(DP_SRC) $(HSM_SRC))
KT_OBJ     := $(patsubst %.c,$(B_OBJ)/%.o,$(wildcard hsm/keytool/*.c))
LG_SRC     := $(filter-out loadgen/main.c,$(wildcard loadgen/*.c))
LG_OBJ     := $(patsubst %.c,$(B_OBJ)/%.o,$(LG_SRC))
UNIT_SRC   := $(wildcard tests/unit/*_test.c)
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BIN)/tests/%,$(UNIT_SRC))
# Unit tests of the load generator's modules link its archive too.
LG_UNIT    := $(BIN)/tests/hdr_test $(BIN)/tests/sched_test $(BIN)/tests/signer_test
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY := $(patsubst tests/fuzz/%.c,$(BIN)/tests/%-replay,$(FUZZ_SRC))
DEPS_STAMP := $(B)/.deps-stamp

# Test objects are intermediate files; keep them.
.SECONDARY:

.PHONY: all deps packages run test asan unit fuzz bench clean help
all: $(BIN)/idgated $(BIN)/idgate-keys $(BIN)/idgate-load $(BIN)/p11sign $(UNIT_BIN) $(FUZZ_REPLAY) $(BIN)/libidgate-p11fault.so

help:
	@echo "make run      install packages, build, start bin/idgated on embedded defaults (state in ./var)"
	@echo "make test     install packages, build, run every test (unit, fuzz corpora, integration)"
	@echo "make asan     the same test suite under AddressSanitizer + UBSan (also: make test SAN=1)"
	@echo "make all      build the server and the test programs"
	@echo "make deps     build mbedTLS 3.6 and liburing 2.9 from Debian source packages into build/"
	@echo "make packages install the Debian packages listed in deps/packages.txt"
	@echo "make fuzz     build libFuzzer targets under bin/fuzz (clang)"
	@echo "make bench    run the benchmarks under perf/ (minutes): perf/results/<date>.json and the table in perf/RESULTS.md"
	@echo "make clean    remove bin/ and build/obj (keeps the dependency builds)"

packages:
	@sh deps/install-packages.sh

# Rebuild a dependency only when its recipe changes.
$(MBED)/.stamp: deps/build-mbedtls.sh deps/mbedtls_user_config.h deps/fetch-source.sh \
		deps/mbedtls-psa-accel.patch deps/mbedtls-tls13-async-cv.patch \
		common/accel/idgate_accel.c common/accel/idgate_accel.h common/accel/idgate_accel_ctx.h
	IDGATE_ACCEL=$(ACCEL) sh deps/build-mbedtls.sh $(CC) $(MBED)
	touch $@
# (after mbedTLS: the two share the private apt lists)
$(URING)/.stamp: deps/build-liburing.sh deps/fetch-source.sh | $(MBED)/.stamp
	sh deps/build-liburing.sh
	touch $@
deps: $(MBED)/.stamp $(URING)/.stamp

$(B_OBJ)/%.o: %.c $(MBED)/.stamp $(URING)/.stamp
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The one object compiled with DPDK's flags (an explicit rule wins over
# the pattern rule above).
$(B_OBJ)/dataplane/dpdk.o: dataplane/dpdk.c $(MBED)/.stamp $(URING)/.stamp
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) $(DPDK_CFLAGS) -MMD -MP -c $< -o $@

$(B_OBJ)/libidgate.a: $(LIB_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

# DPDK's libraries last: its -Wl,--as-needed then touches only them.
$(BIN)/idgated: $(B_OBJ)/dataplane/main.o $(B_OBJ)/dataplane/dpdk.o $(B_OBJ)/libidgate.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(DPDK_LIBS)

# The security officers' key-management tool.
$(BIN)/idgate-keys: $(KT_OBJ) $(B_OBJ)/libidgate.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The raw HSM reference of the signing benchmark (perf/csc.sh).
$(BIN)/p11sign: $(B_OBJ)/perf/p11sign.o $(B_OBJ)/libidgate.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B_OBJ)/libloadgen.a: $(LG_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BIN)/idgate-load: $(B_OBJ)/loadgen/main.o $(B_OBJ)/libloadgen.a $(B_OBJ)/libidgate.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lssl

$(LG_UNIT): $(BIN)/tests/%: $(B_OBJ)/tests/unit/%.o $(B_OBJ)/libloadgen.a $(B_OBJ)/libidgate.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# tls_test's KeyUpdate comes from an OpenSSL client (mbedTLS's cannot send one).
$(BIN)/tests/tls_test: LDLIBS += -lssl

$(BIN)/tests/%: $(B_OBJ)/tests/unit/%.o $(B_OBJ)/libidgate.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The fault-injecting PKCS#11 module for tests and benchmarks.
$(BIN)/libidgate-p11fault.so: hsm/p11fault/p11fault.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -fPIC -shared -o $@ $< -ldl

# Fuzz targets replayed over their corpus by a plain driver (no clang needed).
$(BIN)/tests/%-replay: $(B_OBJ)/tests/fuzz/%.o $(B_OBJ)/tests/fuzz/replay.o $(B_OBJ)/libidgate.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# libFuzzer builds (clang): the library objects instrumented for coverage,
# in an archive so each target links only what it uses.
FUZZ_CFLAGS := $(filter-out -O2,$(CFLAGS)) -O1 -fsanitize=fuzzer-no-link,address,undefined
FUZZ_OBJ := $(patsubst %.c,$(B)/fuzz/%.o,$(COMMON_SRC) $(DP_SRC) $(HSM_SRC))
$(B)/fuzz/%.o: %.c $(MBED)/.stamp $(URING)/.stamp
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CLANG   $<")
	$(Q)clang $(FUZZ_CFLAGS) -c $< -o $@
$(B)/fuzz/libidgate.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^
bin/fuzz/%: tests/fuzz/%.c $(B)/fuzz/libidgate.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)
fuzz: $(patsubst tests/fuzz/%.c,bin/fuzz/%,$(FUZZ_SRC))
	@echo "run e.g.: bin/fuzz/fuzz_http -max_total_time=60 tests/fuzz/corpus/http"

run: packages
	$(MAKE) -j$$(nproc) all
	./$(BIN)/idgated

test: packages
	$(MAKE) -j$$(nproc) all
	@sh tests/run.sh $(BIN)

asan:
	$(MAKE) test SAN=1

bench: packages
	$(MAKE) -j$$(nproc) all
	$(MAKE) -j$$(nproc) ACCEL=0 bin/noaccel/idgated
	@sh perf/bench.sh

clean:
	rm -rf bin $(B)/obj $(B)/san $(B)/obj-noaccel $(B)/san-noaccel

-include $(shell find $(B_OBJ) -name '*.d' 2>/dev/null)
