# icehub top-level build.
#   make            build bin/icehubd and bin/icehub-probe (release, -O2)
#   make run        build and start icehubd in the foreground with the embedded defaults
#   make test       unit tests (plain and ASan+UBSan), integration tests, the NAT lab,
#                   short fuzz and soak runs
#   make natlab     the NAT lab with its fuller matrix (needs root; docs/connectivity.md)
#   make bench      benchmarks (writes docs/benchmarks.md; COTURN=path to compare with)
#   make upgrade-soak  live upgrades under load: pause and loss (tests/artifacts/upgrade-soak.json)
#   make fuzz       long libFuzzer run of every fuzz target (FUZZ_SECONDS each, default 600)
#   make fuzz-long  every fuzz target until FUZZ_RUNS inputs (default 10 million)
#   make soak       mixed load for SOAK_SECONDS (default 600); fails on growth or loss
#   make valgrind   the integration suite against icehubd under valgrind memcheck
#   make deps       install every package the tests need (deploy/install-deps.sh)
#   make install    install under PREFIX (default /usr/local), staged under DESTDIR
#   make test-deploy  build and run the container image, check every file in deploy/
#
# Missing Debian packages are installed by deploy/install-deps.sh, the single
# source of truth for dependencies: `make` and `make run` install only what the
# build needs (--build-only), the test targets everything.

VERSION := 0.1.0
PKGS := libwebsockets openssl libconfig jansson liburing hiredis
# libev (the HTTP thread's event loop, with lws's plugin for it) has no .pc file.
EV_CHECK := test -f /usr/include/ev.h && ls /usr/lib/*/libwebsockets-evlib_ev.so >/dev/null 2>&1
# The daemon's Redis thread runs hiredis on a GLib main loop (daemon/ihd_redis.c).
DAEMON_PKGS := glib-2.0
TEST_PKGS := cmocka
# icehub-probe (ice/) also links libnice (and its GLib) and libsrtp2.
ICE_PKGS := nice libsrtp2 glib-2.0

# `make` and `make run` need only the build set (install-deps.sh --build-only: a
# compiler, pkg-config and the libraries above); the test targets need the full
# set (clang, cmocka, coturn, Chromium, ...), which `make test` also checks each time.
TEST_GOALS := test unit-test asan-test integration-test fuzz bench test-deploy
ifneq ($(filter $(TEST_GOALS),$(MAKECMDGOALS)),)
DEPS_CHECK := $(PKGS) $(DAEMON_PKGS) $(ICE_PKGS) $(TEST_PKGS)
DEPS_MODE :=
else
DEPS_CHECK := $(PKGS) $(DAEMON_PKGS) $(ICE_PKGS)
DEPS_MODE := --build-only
endif
ifeq ($(filter clean help deps,$(MAKECMDGOALS)),)
ifneq ($(shell pkg-config --exists $(DEPS_CHECK) 2>/dev/null && $(EV_CHECK) && echo ok),ok)
$(info icehub: build dependencies missing; running deploy/install-deps.sh $(DEPS_MODE))
DEPS_RC := $(shell sh deploy/install-deps.sh $(DEPS_MODE) 1>&2; echo $$?)
ifneq ($(DEPS_RC),0)
$(error deploy/install-deps.sh failed (exit $(DEPS_RC)); see its output above)
endif
endif
endif

# Build in parallel (one job per CPU) unless the caller chose -j.
ifeq ($(filter -j%,$(MAKEFLAGS)),)
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)
endif

CC ?= cc
ifeq ($(CC),cc)
CC := gcc
endif
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
        -Wpointer-arith -Wvla -Wno-missing-field-initializers
BASE_CFLAGS := -std=gnu11 -D_GNU_SOURCE -DICEHUB_VERSION=\"$(VERSION)\" -I. $(WARN) \
               $(PKG_CFLAGS) -MMD -MP -pthread
RELEASE_CFLAGS := -O2 -g $(BASE_CFLAGS)
ASAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
               -fno-sanitize-recover=undefined $(BASE_CFLAGS)
LDLIBS := $(PKG_LIBS) -lev -lm -pthread

LIB_SRCS := $(wildcard common/*.c stun/*.c turn/*.c signal/*.c acct/*.c)
# Web files served by icehubd, compiled in (signal/sig_assets.h).
WWW_FILES := $(sort $(wildcard signal/www/*))
DAEMON_SRCS := $(wildcard daemon/*.c)
TEST_SRCS := $(wildcard tests/*/test_*.c)

R := build/release
A := build/asan

R_LIB_OBJS := $(LIB_SRCS:%.c=$(R)/%.o) $(R)/gen/sig_assets_data.o
A_LIB_OBJS := $(LIB_SRCS:%.c=$(A)/%.o) $(A)/gen/sig_assets_data.o
R_DAEMON_OBJS := $(DAEMON_SRCS:%.c=$(R)/%.o)
A_DAEMON_OBJS := $(DAEMON_SRCS:%.c=$(A)/%.o)
R_TESTS := $(TEST_SRCS:%.c=$(R)/%)
A_TESTS := $(TEST_SRCS:%.c=$(A)/%)

.PHONY: all run test unit-test asan-test integration-test natlab fuzz fuzz-long soak valgrind bench \
        upgrade-soak clean help deps \
        install uninstall test-deploy
.DEFAULT_GOAL := all

all: bin/icehubd bin/icehub-probe

help:
	@sed -n '2,15p' Makefile

deps:
	sh deploy/install-deps.sh

DAEMON_CFLAGS := $(shell pkg-config --cflags $(DAEMON_PKGS) 2>/dev/null)
DAEMON_LIBS := $(shell pkg-config --libs $(DAEMON_PKGS) 2>/dev/null)
$(R_DAEMON_OBJS): RELEASE_CFLAGS += $(DAEMON_CFLAGS)
$(A_DAEMON_OBJS): ASAN_CFLAGS += $(DAEMON_CFLAGS)

bin/icehubd: $(R_DAEMON_OBJS) $(R)/libicehub.a
	@mkdir -p bin
	$(CC) $(RELEASE_CFLAGS) -o $@ $(R_DAEMON_OBJS) $(R)/libicehub.a $(LDLIBS) $(DAEMON_LIBS)

bin/icehubd-asan: $(A_DAEMON_OBJS) $(A)/libicehub.a
	@mkdir -p bin
	$(CC) $(ASAN_CFLAGS) -o $@ $(A_DAEMON_OBJS) $(A)/libicehub.a $(LDLIBS) $(DAEMON_LIBS)

$(R)/libicehub.a: $(R_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(A)/libicehub.a: $(A_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(R)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(RELEASE_CFLAGS) -c -o $@ $<

$(A)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -c -o $@ $<

build/gen/sig_assets_data.c: $(WWW_FILES) signal/embed_assets.sh
	@mkdir -p build/gen
	sh signal/embed_assets.sh $@ $(WWW_FILES)

$(R)/gen/sig_assets_data.o: build/gen/sig_assets_data.c
	@mkdir -p $(dir $@)
	$(CC) $(RELEASE_CFLAGS) -c -o $@ $<

$(A)/gen/sig_assets_data.o: build/gen/sig_assets_data.c
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -c -o $@ $<

# Unit tests: one cmocka binary per tests/<module>/test_<file>.c.
$(R)/tests/%: tests/%.c $(R)/libicehub.a
	@mkdir -p $(dir $@)
	$(CC) $(RELEASE_CFLAGS) -o $@ $< $(R)/libicehub.a $(LDLIBS) $(CMOCKA_LIBS)

$(A)/tests/%: tests/%.c $(A)/libicehub.a
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) -o $@ $< $(A)/libicehub.a $(LDLIBS) $(CMOCKA_LIBS)

# icehub-probe: ice/ in its own archive (only it needs libnice and libsrtp),
# main in ice/ice_main.c; its unit tests link the archive.
ICE_CFLAGS := $(shell pkg-config --cflags $(ICE_PKGS) 2>/dev/null)
ICE_LIBS := $(shell pkg-config --libs $(ICE_PKGS) 2>/dev/null)
ICE_SRCS := $(filter-out ice/ice_main.c,$(wildcard ice/*.c))
R_ICE_OBJS := $(ICE_SRCS:%.c=$(R)/%.o)
A_ICE_OBJS := $(ICE_SRCS:%.c=$(A)/%.o)
$(R_ICE_OBJS) $(R)/ice/ice_main.o: RELEASE_CFLAGS += $(ICE_CFLAGS)
$(A_ICE_OBJS) $(A)/ice/ice_main.o: ASAN_CFLAGS += $(ICE_CFLAGS)

$(R)/libiceprobe.a: $(R_ICE_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(A)/libiceprobe.a: $(A_ICE_OBJS)
	@rm -f $@
	ar rcs $@ $^

bin/icehub-probe: $(R)/ice/ice_main.o $(R)/libiceprobe.a $(R)/libicehub.a
	@mkdir -p bin
	$(CC) $(RELEASE_CFLAGS) -o $@ $^ $(LDLIBS) $(ICE_LIBS)

bin/icehub-probe-asan: $(A)/ice/ice_main.o $(A)/libiceprobe.a $(A)/libicehub.a
	@mkdir -p bin
	$(CC) $(ASAN_CFLAGS) -o $@ $^ $(LDLIBS) $(ICE_LIBS)

$(R)/tests/ice/%: tests/ice/%.c $(R)/libiceprobe.a $(R)/libicehub.a
	@mkdir -p $(dir $@)
	$(CC) $(RELEASE_CFLAGS) $(ICE_CFLAGS) -o $@ $< $(R)/libiceprobe.a $(R)/libicehub.a \
	    $(LDLIBS) $(ICE_LIBS) $(CMOCKA_LIBS)

$(A)/tests/ice/%: tests/ice/%.c $(A)/libiceprobe.a $(A)/libicehub.a
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) $(ICE_CFLAGS) -o $@ $< $(A)/libiceprobe.a $(A)/libicehub.a \
	    $(LDLIBS) $(ICE_LIBS) $(CMOCKA_LIBS)

test integration-test: bin/icehub-probe
test: bin/icehub-probe-asan

run: bin/icehubd
	./bin/icehubd $(ARGS)

unit-test: $(R_TESTS)
	@sh tests/run_unit.sh release $(R_TESTS)

asan-test: $(A_TESTS)
	@sh tests/run_unit.sh asan $(A_TESTS)

# The whole suite: one summary line at the end, non-zero exit on failure.
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
test: deps-quiet bin/icehubd bin/icehubd-asan $(R_TESTS) $(A_TESTS) $(FUZZ_TARGETS) \
      build/fault_shim.so
	@bash tests/run_all.sh

deps-quiet:
	@sh deploy/install-deps.sh --quiet

# tests/fault/fault_shim.c: an LD_PRELOAD library that makes sendmsg,
# sendmmsg and accept4 fail at random (tests/integration/test_faults.py).
build/fault_shim.so: tests/fault/fault_shim.c
	@mkdir -p build
	$(CC) -O2 -g -Wall -Wextra -shared -fPIC -o $@ $< -ldl -pthread

integration-test: bin/icehubd build/fault_shim.so
	@/usr/bin/python3 tests/integration/run.py

# Browsers behind NATs in network namespaces (tests/natlab; needs root). make test runs
# it too, without the extra TCP/TLS-only pass.
natlab: deps-quiet bin/icehubd bin/icehub-probe
	@bash tests/natlab/run.sh --full

# libFuzzer targets (clang): one per decoder or handler that reads bytes from
# the network or a file (docs/security.md lists them). The pure modules and
# the daemon's pure parsers are compiled once with the sanitizers into
# build/fuzz/libfuzz.a; each tests/fuzz/fuzz_*.c links it with libFuzzer.
FUZZ_PKGS := openssl jansson libconfig
FUZZ_CFLAGS := -O1 -g -fsanitize=address,undefined -std=gnu11 -D_GNU_SOURCE -I. \
               $(shell pkg-config --cflags $(FUZZ_PKGS) 2>/dev/null)
FUZZ_LIB_SRCS := $(wildcard common/*.c stun/*.c turn/*.c signal/*.c acct/*.c) \
                 daemon/ihd_stream.c daemon/ihd_req.c
FUZZ_LIB_OBJS := $(FUZZ_LIB_SRCS:%.c=build/fuzz/obj/%.o)
FUZZ_LIBS := $(shell pkg-config --libs $(FUZZ_PKGS) 2>/dev/null) -lm -pthread
# The hub's ids and tokens come from a seeded generator in the target.
build/fuzz/fuzz_signal: FUZZ_LDFLAGS := -Wl,--wrap=cmn_random
build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<
build/fuzz/libfuzz.a: $(FUZZ_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c build/fuzz/libfuzz.a
	@mkdir -p build/fuzz
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -MMD -MP -o $@ $< build/fuzz/libfuzz.a \
	    $(FUZZ_LDFLAGS) $(FUZZ_LIBS)

# What a cluster node reads from Redis (signal/sig_fed*.c, sig_dir.c and
# acct/acct_clu.c); its hub's ids come from the seeded generator too.
build/fuzz/fuzz_fed: FUZZ_LDFLAGS := -Wl,--wrap=cmn_random

# The probe's network parsers (ice/, the pure files only) have their own
# target: fuzz_ice.
ICE_FUZZ_SRCS := ice/ice_url.c ice/ice_cand.c ice/ice_msg.c ice/ice_rtp.c ice/ice_turnc.c
build/fuzz/fuzz_ice: tests/fuzz/fuzz_ice.c $(ICE_FUZZ_SRCS) build/fuzz/libfuzz.a $(wildcard ice/*.h)
	@mkdir -p build/fuzz
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(ICE_FUZZ_SRCS) build/fuzz/libfuzz.a \
	    $(FUZZ_LIBS)

# make fuzz: every target for FUZZ_SECONDS (default 600) from its corpus
# (new inputs kept in build/fuzz/corpus-NAME). make fuzz-long: every target
# until it has run FUZZ_RUNS inputs (default 10 million); the counts and
# rates land in build/fuzz/long-report.txt (docs/security.md has the last).
FUZZ_SECONDS ?= 600
FUZZ_RUNS ?= 10000000
fuzz: $(FUZZ_TARGETS)
	@bash tests/fuzz/run_long.sh time $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-long: $(FUZZ_TARGETS)
	@bash tests/fuzz/run_long.sh runs $(FUZZ_RUNS) $(FUZZ_TARGETS)

# The integration suite against icehubd under valgrind memcheck (not part of
# make test: it takes about an hour).
valgrind: deps-quiet bin/icehubd build/fault_shim.so
	@bash tests/valgrind/run.sh

# The soak (tests/soak/soak.py): make test runs it for 60 s.
SOAK_SECONDS ?= 600
soak: bin/icehubd
	@/usr/bin/python3 tests/soak/soak.py --seconds $(SOAK_SECONDS)

# Several live upgrades in a row under uclient and stream load; SOAK_ARGS
# passes options (tests/bench/upgrade_soak.py --help).
upgrade-soak: bin/icehubd
	@/usr/bin/python3 tests/bench/upgrade_soak.py $(SOAK_ARGS)

# COTURN=path/to/turnserver compares with another coturn build (default:
# Debian's turnserver); BENCH_ONLY=... runs some sections (tests/bench/run.sh).
bench: bin/icehubd
	@COTURN="$(COTURN)" bash tests/bench/run.sh

# Installation, as users of a C project expect: PREFIX for the layout,
# DESTDIR to stage it (packaging, the container image's build stage).
# SYSCONFDIR stays /etc whatever the prefix, where the unit and the image
# look for icehub.conf; an existing icehub.conf is never overwritten.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
DOCDIR ?= $(PREFIX)/share/doc/icehub
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
# Programs `make install` copies to BINDIR.
INSTALL_BINS := bin/icehubd bin/icehub-probe
INSTALL_DOCS := README.md $(wildcard docs/*.md)
INSTALL_EXAMPLES := deploy/icehub.conf deploy/prometheus.yml deploy/alerts.yml \
                    deploy/grafana-dashboard.json deploy/probe-prometheus.yml \
                    deploy/probe-alerts.yml deploy/probe-modules.conf

install: $(INSTALL_BINS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
	    $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(SYSCONFDIR)/icehub
	install -m 755 $(INSTALL_BINS) $(DESTDIR)$(BINDIR)/
	sed -e 's|/usr/local/bin/|$(BINDIR)/|g' -e 's|/usr/local/share/doc/icehub/|$(DOCDIR)/|g' -e 's|/etc/icehub/|$(SYSCONFDIR)/icehub/|g' \
	    deploy/icehubd.service >$(DESTDIR)$(UNITDIR)/icehubd.service
	chmod 644 $(DESTDIR)$(UNITDIR)/icehubd.service
	install -m 644 deploy/sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/icehub.conf
	install -m 644 $(INSTALL_DOCS) $(DESTDIR)$(DOCDIR)/
	install -m 644 $(INSTALL_EXAMPLES) $(DESTDIR)$(DOCDIR)/examples/
	test -e $(DESTDIR)$(SYSCONFDIR)/icehub/icehub.conf || \
	    install -m 644 deploy/icehub.conf $(DESTDIR)$(SYSCONFDIR)/icehub/icehub.conf

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(INSTALL_BINS))) \
	    $(DESTDIR)$(UNITDIR)/icehubd.service $(DESTDIR)$(SYSUSERSDIR)/icehub.conf
	rm -rf $(DESTDIR)$(DOCDIR)
	@echo "kept $(DESTDIR)$(SYSCONFDIR)/icehub (your configuration)"

# The deployment files, exercised: the container image built from
# deploy/Dockerfile and run with podman, compose, Kubernetes and systemd
# files validated, make install. Its own tools come from install-deps.sh.
test-deploy: deps-quiet bin/icehubd
	@/usr/bin/python3 tests/deploy/run.py

clean:
	rm -rf build bin

-include $(R_LIB_OBJS:.o=.d) $(A_LIB_OBJS:.o=.d) $(R_DAEMON_OBJS:.o=.d) $(A_DAEMON_OBJS:.o=.d)
-include $(R_ICE_OBJS:.o=.d) $(A_ICE_OBJS:.o=.d) $(R)/ice/ice_main.d $(A)/ice/ice_main.d
# Unit tests may #include the .c they test (tests/daemon): rebuild on its change.
-include $(R_TESTS:=.d) $(A_TESTS:=.d)
-include $(FUZZ_LIB_OBJS:.o=.d) $(FUZZ_TARGETS:=.d)
