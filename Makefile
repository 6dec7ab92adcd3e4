# hashring -- PGXS build
EXTENSION = hashring
MODULE_big = hashring
OBJS = src/hashring.o src/algorithms.o src/catalog.o src/image.o src/cache.o src/funcs.o src/hash.o src/digest.o src/diff.o src/settings.o src/conn.o src/dist.o src/copy.o src/ddl.o src/shardmove.o src/move.o src/checker.o src/stats.o src/hotkeys.o \
	src/algo_vnode.o src/algo_ketama.o src/algo_jump.o src/algo_maglev.o \
	src/algo_rendezvous.o src/algo_slots.o src/algo_xor.o src/algo_pghash.o src/algo_murmur3.o

DATA = sql/hashring--0.8.sql sql/hashring--0.7--0.8.sql sql/hashring--0.6--0.7.sql sql/hashring--0.5--0.6.sql sql/hashring--0.4--0.5.sql sql/hashring--0.3--0.4.sql sql/hashring--0.1.sql sql/hashring--0.1--0.2.sql sql/hashring--0.2--0.3.sql
PGFILEDESC = "hashring - consistent-hash routing"

# pg_regress tests (sql/*.sql, expected/*.out) run against a throwaway
# instance that preloads the library (test/regress.conf).  UTF8 with the C
# locale whatever the caller's environment: a root without LANG would
# otherwise initdb as SQL_ASCII, where psql counts a multibyte key's column
# width in bytes (the TAP helper and the demo force UTF8 the same way).
REGRESS = setup membership routing balance cache bad_input huge_key algorithms history correctness placement zones zone_spread pins distributed privileges upgrade
REGRESS_OPTS = --temp-instance=tmp_check_regress --temp-config=$(srcdir)/test/regress.conf --encoding=UTF8 --no-locale --port=54329 --inputdir=$(srcdir)

# isolation specs under test/isolation
ISOLATION = read_your_writes commit_visibility serialise repeatable_read lock_order snapshot_routing
ISOLATION_OPTS = --temp-instance=tmp_check_iso --temp-config=$(srcdir)/test/regress.conf --encoding=UTF8 --no-locale --port=54330 --inputdir=$(srcdir)/test/isolation --outputdir=output_iso

TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl
PROVE_FLAGS = -I $(srcdir)/test/perl

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -I$(srcdir)/src -I$(libpq_srcdir)
# ring_move (src/move.c) talks to the shards over libpq, as postgres_fdw does
SHLIB_LINK_INTERNAL = $(libpq)
# `make STRICT=1` (used by the test script and CI): warnings are errors.
# -Wextra's unused-parameter, sign-compare and missing-field-initializers
# fire inside PostgreSQL's own headers, so those three stay off.
ifdef STRICT
PG_CFLAGS += -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers -Werror
endif
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Benchmark suite (issue #3): starts its own server, prints ratios.
.PHONY: bench
bench:
	bash $(srcdir)/test/bench/run.sh
	HASHRING_BENCH_SKIP_BUILD=1 bash $(srcdir)/test/bench/move.sh
	HASHRING_BENCH_SKIP_BUILD=1 bash $(srcdir)/test/bench/dist.sh

# Before a release (docs/testing.md): CI's parts with nothing left out --
# valgrind over every pg_regress file, the whole suite on every major.
.PHONY: check-full
check-full:
	HASHRING_CI_FULL=1 bash $(srcdir)/.ci/run

# ASan+UBSan and valgrind runs (issue #8), as root: builds into private
# copies of PostgreSQL under /tmp, never into the installation users get.
.PHONY: sanitize
sanitize:
	bash $(srcdir)/scripts/sanitize.sh

# Every object (and its JIT bitcode) depends on the shared header: PGXS does
# not track headers, and a stale object links to symbols that moved.
$(OBJS) $(OBJS:.o=.bc): $(srcdir)/src/hashring.h $(srcdir)/src/settings.h $(srcdir)/src/conn.h $(srcdir)/src/dist.h
