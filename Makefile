# sgcluster: plain GNU make. `make`, `make test`, `make check`, `make bench`, `make fuzz`, `make demo`.
# Every top-level target first makes sure the Debian packages of its groups are there
# (deploy/deps.sh), then re-enters make so that pkg-config runs only once the libraries exist.

SHARED  ?= $(abspath ../shared)
PREFIX  ?= /usr/local
DESTDIR ?=

# The deps.sh groups each target needs: a build never installs a daemon, only `make bench`
# installs the peers it compares against (their packages start system services).
DEPS_all     = build
DEPS_install = build
DEPS_test    = build test deploy package
DEPS_unit    = build test
DEPS_integration = build test deploy package
DEPS_check   = build test deploy package
DEPS_demo    = build test
DEPS_fuzz    = build fuzz
DEPS_bench   = build test bench
DEPS_deb     = build package
deps_for = @deploy/deps.sh check $(DEPS_$(1)) >/dev/null 2>&1 || deploy/deps.sh install $(DEPS_$(1))

PUBLIC_TARGETS = all test check bench fuzz demo install unit integration deb
.PHONY: $(PUBLIC_TARGETS) deps clean _all _test _unit _integration _bench _fuzz _demo _install _check _fuzzbuild _deb

all: ; $(call deps_for,all); $(MAKE) --no-print-directory _all
test unit integration bench fuzz demo install deb:
	$(call deps_for,$@)
	@$(MAKE) --no-print-directory _$@
check:
	$(call deps_for,check)
	@$(MAKE) --no-print-directory SAN=1 _test
	@$(MAKE) --no-print-directory _cppcheck
# Every group (DEPS_GROUPS=build for fewer): what all the targets together need.
DEPS_GROUPS ?=
deps:
	deploy/deps.sh install $(DEPS_GROUPS)

# ---- build configuration --------------------------------------------------
CC      ?= cc
PKGS     = libczmq libzmq msgpack libpcre2-8 libnftnl libmnl libsodium inih libsystemd libmicrohttpd jansson
WARN     = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wformat=2 -Werror
CFLAGS  ?= -O2 -g
# The library starts threads (gossip/state_verify.c): -pthread when compiling and when linking.
THREADS  = -pthread
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(THREADS) -I. $(shell pkg-config --cflags $(PKGS))
LDLIBS   = $(shell pkg-config --libs $(PKGS)) -lm $(THREADS)
ifeq ($(SAN),1)
  BUILD  ?= build-san
  BIN    ?= $(BUILD)/bin
  CFLAGS += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
  LDFLAGS += -fsanitize=address,undefined
else
  BUILD  ?= build
  BIN    ?= bin
endif

# Every .c in the code folders (common/ below the other four) goes into one static library, except the programs' mains.
MAINS    = agent/sgagent_main.c agent/sgcluster_main.c
LIB_SRCS = $(filter-out $(MAINS), $(wildcard common/*.c detect/*.c gossip/*.c enforce/*.c agent/*.c))
LIB_OBJS = $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB      = $(BUILD)/libsg.a
BINS     = $(patsubst agent/%_main.c,$(BIN)/%,$(wildcard $(MAINS)))
UNIT_SRCS = $(wildcard tests/unit/test_*.c)
UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRCS = $(wildcard tests/fuzz/fuzz_*.c)
REPLAY_BINS = $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/tests/replay_%)
TOOL_SRCS = $(wildcard tests/tools/*.c)
TOOL_BINS = $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/tool_%)
BENCH_SRCS = $(wildcard tests/bench/bench_*.c)
BENCH_BINS = $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/tests/%)

.SECONDARY:

_all: $(BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BIN)/%: $(BUILD)/agent/%_main.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs cmocka)

# Fuzz targets are replayed over their seed corpus by `make test` without libFuzzer.
$(BUILD)/tests/replay_%: $(BUILD)/tests/fuzz/%.o $(BUILD)/tests/fuzz/replay_main.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Helper programs of the integration tests (a hostile peer, ...).
$(BUILD)/tests/tool_%: $(BUILD)/tests/tools/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/bench_%: $(BUILD)/tests/bench/bench_%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# SG_NO_SKIP=1 (from the environment or `make test SG_NO_SKIP=1`): a skipped test fails the run.
SG_NO_SKIP ?= 0
TEST_ENV = SG_BIN=$(abspath $(BIN)) SG_BUILD=$(abspath $(BUILD)) SG_SHARED=$(SHARED) SG_ROOT=$(CURDIR) \
  SG_NO_SKIP=$(SG_NO_SKIP)

_unit: $(BINS) $(UNIT_BINS) $(REPLAY_BINS)
	@$(TEST_ENV) tests/run.sh unit $(UNIT_BINS) -- $(REPLAY_BINS)

# Scripts that build and install their own binaries (the Ansible role builds the checkout, the
# package is built by dpkg-buildpackage) or only lint: no sanitized binary runs in them, so under
# SAN=1 (`make check`) they would repeat `make test`'s run exactly; check leaves them to make test.
OWN_BUILD_SCRIPTS = tests/integration/90_deploy_local.sh tests/integration/92_deploy_lint.sh \
  tests/integration/95_package.sh
INTEGRATION = $(sort $(wildcard tests/integration/*.sh))
ifeq ($(SAN),1)
  INTEGRATION := $(filter-out $(OWN_BUILD_SCRIPTS),$(INTEGRATION))
endif
own_build_note = $(if $(filter 1,$(SAN)),@echo "note: make check leaves $(notdir $(OWN_BUILD_SCRIPTS)) to make test (they build their own, unsanitized binaries)")

_integration: $(BINS) $(TOOL_BINS) $(BENCH_BINS)
	$(own_build_note)
	@$(TEST_ENV) tests/run.sh integration $(INTEGRATION)

_test: $(BINS) $(UNIT_BINS) $(REPLAY_BINS) $(TOOL_BINS) $(BENCH_BINS)
	$(own_build_note)
	@$(TEST_ENV) tests/run.sh all $(UNIT_BINS) -- $(REPLAY_BINS) -- $(INTEGRATION)

_bench: $(BINS) $(BENCH_BINS) $(TOOL_BINS)
	@for b in $(BENCH_BINS); do $(TEST_ENV) $$b || exit 1; done
	@for s in $(sort $(wildcard tests/bench/*.sh)); do $(TEST_ENV) sh $$s || exit 1; done

_cppcheck:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
	  --inline-suppr --suppress=missingIncludeSystem --std=c11 -I. \
	  common detect gossip enforce agent tests/unit tests/fuzz

# libFuzzer: each target runs for FUZZ_SECONDS on its corpus (clang only), with tests/fuzz/NAME.dict if there is one.
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -O1 -g -I. -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $(shell pkg-config --cflags $(PKGS))
_fuzz:
	@mkdir -p build-fuzz
	@for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); \
	  clang $(FUZZ_CFLAGS) -o build-fuzz/$$n $$f $(LIB_SRCS) $(LDLIBS) || exit 1; \
	  mkdir -p build-fuzz/corpus-$$n; \
	  d=; [ -f tests/fuzz/$$n.dict ] && d=-dict=tests/fuzz/$$n.dict; \
	  build-fuzz/$$n -max_total_time=$(FUZZ_SECONDS) $$d build-fuzz/corpus-$$n tests/fuzz/corpus/$$n || exit 1; done

_demo: $(BINS)
	@$(TEST_ENV) tests/demo.sh

# The unit's paths follow PREFIX; it goes where systemd looks for local units (the package:
# UNITDIR=/lib/systemd/system). Bash completion goes where bash-completion looks under PREFIX.
MANDIR  ?= $(PREFIX)/share/man
UNITDIR ?= /etc/systemd/system
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
_install: $(BINS)
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin $(DESTDIR)/etc/sgcluster/rules.d \
	  $(DESTDIR)/etc/sgcluster/scenarios.d $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(COMPLETIONDIR)
	install -m 0644 deploy/bash-completion/sgcluster $(DESTDIR)$(COMPLETIONDIR)/sgcluster
	install -m 0755 $(BIN)/sgagent $(DESTDIR)$(PREFIX)/sbin/sgagent
	install -m 0755 $(BIN)/sgcluster $(DESTDIR)$(PREFIX)/bin/sgcluster
	install -m 0644 detect/rules.d/*.conf $(DESTDIR)/etc/sgcluster/rules.d/
	install -m 0644 agent/scenarios.d/*.conf $(DESTDIR)/etc/sgcluster/scenarios.d/
	install -m 0644 deploy/man/*.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 deploy/man/*.8 $(DESTDIR)$(MANDIR)/man8/
	sed 's|/usr/local/sbin/|$(PREFIX)/sbin/|g' deploy/systemd/sgagent.service > $(DESTDIR)$(UNITDIR)/sgagent.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/sgagent.service

# The Debian package (debian/), built by dpkg-buildpackage in a copy of the tree under DEBBUILD so
# that the checkout stays clean; the .deb lands in DEBBUILD.
DEBBUILD ?= build-deb
_deb:
	rm -rf $(DEBBUILD) && mkdir -p $(DEBBUILD)/src
	tar -c --exclude-vcs --exclude=./build --exclude=./build-san --exclude=./build-fuzz \
	  --exclude='./build-deb*' --exclude=./bin . | tar -x -C $(DEBBUILD)/src
	cd $(DEBBUILD)/src && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	  dpkg-buildpackage --build=binary --unsigned-source --unsigned-changes --no-pre-clean -J2
	@ls $(DEBBUILD)/*.deb

clean:
	rm -rf build build-san build-fuzz build-deb bin

-include $(LIB_OBJS:.o=.d) $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%.d) $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/tests/fuzz/%.d) \
  $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/tools/%.d) $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/tests/bench/%.d)
