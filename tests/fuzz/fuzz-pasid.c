/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: random operation sequences on one PASID space, each result
 * checked against a reference model written for clarity, not speed (arrays
 * and linear scans).  Grace never expires by time here (grace_ns UINT64_MAX),
 * only by barrier, so the model is deterministic.
 *
 * Owners are real owners or tags (bit 0 set): a tagged PASID stays freeable by
 * sva_pasid_free(), as a NULL-owned one is.
 *
 * Input: [flags][min lo][min hi][min top][size lo][size hi] then operations,
 * each an opcode byte followed by the bytes it needs.  Running out of bytes
 * ends the run.  A mismatch prints what differed and aborts.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pasid_space.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define CAP 2048u /* largest range the model follows */

enum { M_FRESH, M_ALLOC, M_QUAR, M_REL, M_POOL, M_RETIRED };
#define NOPS 15

static struct model {
	uint32_t min, max, n;
	uint32_t fresh;
	uint8_t st[CAP];
	bool from_fresh[CAP]; /* allocated by the cursor (an unalloc hands it back there) */
	void *drv[CAP], *own[CAP];
	uint32_t pool[CAP], npool;   /* indexes, head first */
	uint32_t grace[CAP], ngrace; /* indexes, head first */
} m;

struct input {
	const uint8_t *p;
	size_t left;
};

static bool take(struct input *in, size_t n, uint32_t *v)
{
	*v = 0;
	if (in->left < n)
		return false;
	for (size_t i = 0; i < n; i++)
		*v |= (uint32_t)in->p[i] << (8 * i);
	in->p += n;
	in->left -= n;
	return true;
}

static void fail(const char *what, long long got, long long want)
{
	fprintf(stderr, "fuzz-pasid: %s: got %lld, want %lld (space [%u, %u])\n", what, got, want, m.min, m.max);
	abort();
}

/* For fuzz-replay: how many inputs reached the model, how many checks passed
 * (an input the header rejects checks nothing). */
extern unsigned long fuzz_pasid_inputs, fuzz_pasid_checks;
unsigned long fuzz_pasid_inputs, fuzz_pasid_checks;

#define CHECK(what, got, want)                                                   \
	do {                                                                     \
		long long g_ = (long long)(got), w_ = (long long)(want);         \
		if (g_ != w_)                                                    \
			fail((what), g_, w_);                                    \
		fuzz_pasid_checks++;                                             \
	} while (0)

static void model_reset(uint32_t min, uint32_t max)
{
	memset(&m, 0, sizeof(m));
	m.min = min;
	m.max = max;
	m.n = max - min + 1;
}

static void list_remove(uint32_t *list, uint32_t *n, uint32_t idx)
{
	for (uint32_t i = 0; i < *n; i++)
		if (list[i] == idx) {
			memmove(&list[i], &list[i + 1], (*n - i - 1) * sizeof(*list));
			(*n)--;
			return;
		}
	fail("model list corrupt", idx, -1);
}

/* A PASID from 2 input bytes: mostly in range, sometimes just outside. */
static uint32_t pick(struct input *in)
{
	uint32_t v;

	take(in, 2, &v);
	return (uint32_t)((int64_t)m.min - 2 + (int64_t)(v % (m.n + 4)));
}

static bool in_range(uint32_t p)
{
	return p >= m.min && p <= m.max;
}

static int model_alloc(void *owner, void *drv, uint32_t *pasid)
{
	uint32_t idx;

	while (m.fresh < m.n && m.st[m.fresh] != M_FRESH)
		m.fresh++;
	if (m.fresh < m.n) {
		idx = m.fresh++;
		m.from_fresh[idx] = true;
	} else if (m.npool) {
		idx = m.pool[0];
		list_remove(m.pool, &m.npool, idx);
		m.from_fresh[idx] = false;
	} else {
		return -ENOSPC;
	}
	m.st[idx] = M_ALLOC;
	m.drv[idx] = drv;
	m.own[idx] = owner;
	*pasid = m.min + idx;
	return 0;
}

static void check_stats(struct sva_pasid_space *s)
{
	struct sva_pasid_stats st = { .size = sizeof(st) };
	uint64_t a = 0, q = 0;

	for (uint32_t i = 0; i < m.n; i++) {
		a += m.st[i] == M_ALLOC;
		q += m.st[i] == M_QUAR || m.st[i] == M_REL || m.st[i] == M_RETIRED;
	}
	CHECK("stats rc", sva_pasid_stats(s, &st), 0);
	CHECK("stats min", st.min, m.min);
	CHECK("stats max", st.max, m.max);
	CHECK("stats allocated", st.allocated, a);
	CHECK("stats quarantined", st.quarantined, q);
	CHECK("stats free", st.free, m.n - a - q);
}

static void *token(uint32_t v)
{
	return (void *)(uintptr_t)(0x1000u + v * 8u);
}

/* An owner tag (SVA_PASID_TAG): returned by lookups, but not an owner. */
static bool is_tag(const void *owner)
{
	return SVA_PASID_IS_TAG(owner);
}

/* A real owner for even `sel`, a tag for odd. */
static void *owner_token(uint32_t v, uint32_t sel)
{
	return sel & 1 ? SVA_PASID_TAG(token(v)) : token(v);
}

static void discard(void *arg, enum sva_log_level level, const char *msg)
{
	(void)arg, (void)level, (void)msg; /* formatting still runs under the sanitizers */
}

/*
 * libFuzzer writes every new input into the first directory it is given.
 * Run by hand with the checked-in corpus first, it would fill the source
 * tree: refuse, and say what to do (tests/fuzz/run-fuzz.sh puts a scratch
 * directory first).  A corpus file as an argument only runs that input.
 */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	for (int i = 1; i < *argc; i++) {
		const char *a = (*argv)[i];
		char real[PATH_MAX];
		struct stat st;

		if (a[0] == '-')
			continue;
		if (stat(a, &st) == 0 && S_ISDIR(st.st_mode) && realpath(a, real) &&
		    strstr(real, "/tests/fuzz/corpus")) {
			fprintf(stderr,
				"fuzz-pasid: %s is the checked-in corpus, and libFuzzer would write new inputs into "
				"it: run tests/fuzz/run-fuzz.sh, or give a scratch directory first\n",
				a);
			exit(2);
		}
		break; /* only the first directory receives inputs */
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sva_pasid_space_opts o = { .size = sizeof(o), .grace_ns = UINT64_MAX };
	struct input in = { data, size };
	struct sva_pasid_space *s;
	uint32_t flags, lo, span, op, counter = 0;

	sva_log_init((struct sva_log *)sva_log_default(), discard, NULL, SVA_LOG_DEBUG);
	if (!take(&in, 1, &flags) || !take(&in, 3, &lo) || !take(&in, 2, &span))
		return 0;
	span = span % CAP;
	if (flags & 1) {
		o.flags = SVA_PASID_ALLOW_ZERO;
		o.min = 0;
	} else {
		o.min = 1 + lo % (SVA_PASID_MAX - span); /* anywhere up to the top */
	}
	o.max = o.min + span;
	if (o.max == 0) /* 0 would mean "SVA_PASID_MAX" */
		return 0;
	CHECK("space_new", sva_pasid_space_new(&o, &s), 0);
	model_reset(o.min, o.max);
	fuzz_pasid_inputs++;

	while (take(&in, 1, &op)) {
		uint32_t p, q = 0xdeadbeef, v;
		void *d = token(0xbad), *ow = token(0xbad);
		int want, got;

		switch (op % NOPS) {
		case 13: /* unalloc_owned: back where the allocator took it, no quarantine */
		case 14: /* retire_owned: quarantined for good */
			p = pick(&in);
			take(&in, 1, &v);
			want = !in_range(p) ? -ERANGE : m.st[p - m.min] != M_ALLOC ? -ENOENT : (v & 1) ? -EBUSY : 0;
			if (want == 0 || want == -EBUSY)
				ow = (v & 1) ? (m.own[p - m.min] == token(0xbad) ? NULL : token(0xbad)) : m.own[p - m.min];
			/* A NULL owner frees an unowned or tagged value: not a wrong owner then. */
			if (want == -EBUSY && !ow && (!m.own[p - m.min] || is_tag(m.own[p - m.min])))
				want = 0;
			got = op % NOPS == 13 ? sva_pasid_unalloc_owned(s, p, ow) : sva_pasid_retire_owned(s, p, ow);
			CHECK(op % NOPS == 13 ? "unalloc rc" : "retire rc", got, want);
			if (want)
				break;
			if (op % NOPS == 14) {
				m.st[p - m.min] = M_RETIRED;
			} else if (m.from_fresh[p - m.min] && p - m.min + 1 == m.fresh) {
				m.st[p - m.min] = M_FRESH;
				m.fresh--;
			} else {
				memmove(&m.pool[1], &m.pool[0], m.npool * sizeof(*m.pool));
				m.pool[0] = p - m.min;
				m.npool++;
				m.st[p - m.min] = M_POOL;
			}
			break;
		case 0: /* alloc */
		case 1: /* alloc_owned */
		case 2: { /* alloc_ex, quiet */
			void *owner = op % NOPS == 1 ? owner_token(++counter, op / NOPS) : NULL;
			void *drv = token(++counter);
			uint32_t wp = 0;

			want = model_alloc(owner, drv, &wp);
			if (op % NOPS == 0)
				got = sva_pasid_alloc(s, drv, &q);
			else if (op % NOPS == 1)
				got = sva_pasid_alloc_owned(s, owner, drv, &q);
			else
				got = sva_pasid_alloc_ex(s, SVA_PASID_ALLOC_QUIET_ENOSPC, owner, drv, &q);
			CHECK("alloc rc", got, want);
			CHECK("alloc pasid (order)", q, want == 0 ? wp : 0xdeadbeef);
			break;
		}
		case 3: /* free */
		case 4: /* free_owned: the right owner or a wrong one */
			p = pick(&in);
			take(&in, 1, &v);
			want = !in_range(p)				? -ERANGE
			       : m.st[p - m.min] != M_ALLOC		? -ENOENT
			       : op % NOPS == 3 && m.own[p - m.min] && !is_tag(m.own[p - m.min]) ? -EBUSY
			       : op % NOPS == 4 && (v & 1)		? -EBUSY
									: 0;
			if (op % NOPS == 4 && in_range(p) && m.st[p - m.min] == M_ALLOC && !(v & 1))
				ow = m.own[p - m.min];
			else if (op % NOPS == 4 && in_range(p) && m.st[p - m.min] == M_ALLOC)
				/* Surely not its owner: NULL frees a tagged or unowned one. */
				ow = m.own[p - m.min] && !is_tag(m.own[p - m.min]) ? NULL : token(0xbad);
			got = op % NOPS == 3 ? sva_pasid_free(s, p) : sva_pasid_free_owned(s, p, ow);
			CHECK("free rc", got, want);
			if (want == 0)
				m.st[p - m.min] = M_QUAR;
			break;
		case 5: /* release */
			p = pick(&in);
			want = !in_range(p) ? -ERANGE : m.st[p - m.min] != M_QUAR ? -EINVAL : 0;
			CHECK("release rc", sva_pasid_release(s, p), want);
			if (want == 0) {
				m.st[p - m.min] = M_REL;
				m.grace[m.ngrace++] = p - m.min;
			}
			break;
		case 6: /* barrier */
			want = (int)m.ngrace;
			for (uint32_t i = 0; i < m.ngrace; i++) {
				m.st[m.grace[i]] = M_POOL;
				m.pool[m.npool++] = m.grace[i];
			}
			m.ngrace = 0;
			CHECK("barrier", sva_pasid_barrier(s), want);
			break;
		case 7: /* lookup */
		case 8: /* lookup_owner */
			p = pick(&in);
			want = !in_range(p) ? -ERANGE : m.st[p - m.min] != M_ALLOC ? -ENOENT : 0;
			got = op % NOPS == 7 ? sva_pasid_lookup(s, p, &d) : sva_pasid_lookup_owner(s, p, &ow, &d);
			CHECK("lookup rc", got, want);
			CHECK("lookup drvdata", (uintptr_t)d, (uintptr_t)(want ? token(0xbad) : m.drv[p - m.min]));
			if (op % NOPS == 8)
				CHECK("lookup owner", (uintptr_t)ow,
				      (uintptr_t)(want ? token(0xbad) : m.own[p - m.min]));
			break;
		case 9: /* stats */
			check_stats(s);
			break;
		case 10: /* alloc_at */
			p = pick(&in);
			want = !in_range(p) ? -ERANGE
			       : (m.st[p - m.min] == M_FRESH || m.st[p - m.min] == M_POOL) ? 0
											    : -EBUSY;
			CHECK("alloc_at rc", sva_pasid_alloc_at(s, p, NULL, token(++counter)), want);
			if (want == 0) {
				if (m.st[p - m.min] == M_POOL)
					list_remove(m.pool, &m.npool, p - m.min);
				m.st[p - m.min] = M_ALLOC;
				m.from_fresh[p - m.min] = false;
				m.drv[p - m.min] = token(counter);
				m.own[p - m.min] = NULL;
			}
			break;
		case 11: /* set_owner */
			p = pick(&in);
			want = !in_range(p) ? -ERANGE : m.st[p - m.min] != M_ALLOC ? -ENOENT : 0;
			CHECK("set_owner rc",
			      sva_pasid_set_owner(s, p, owner_token(counter + 1, op / NOPS), token(counter + 2)), want);
			if (want == 0) {
				m.own[p - m.min] = owner_token(++counter, op / NOPS);
				m.drv[p - m.min] = token(++counter);
			}
			break;
		case 12: { /* set_range: a new range, sometimes invalid */
			uint32_t nmin, nmax, busy = 0;

			take(&in, 3, &nmin);
			take(&in, 2, &nmax);
			nmin %= SVA_PASID_MAX + 3;
			nmax = (flags & 2) ? nmax : nmin + nmax % CAP; /* unrelated or near */
			for (uint32_t i = 0; i < m.n; i++)
				busy |= m.st[i] == M_ALLOC || m.st[i] == M_QUAR || m.st[i] == M_REL || m.st[i] == M_RETIRED;
			uint32_t emin = nmin ? nmin : 1, emax = nmax ? nmax : SVA_PASID_MAX;

			want = emax > SVA_PASID_MAX ? -ERANGE : emin > emax ? -EINVAL : busy ? -EBUSY : 0;
			if (want == 0 && emax - emin + 1 > CAP)
				break; /* valid, but too big for the model */
			CHECK("set_range rc", sva_pasid_space_set_range(s, nmin, nmax), want);
			if (want == 0)
				model_reset(emin, emax);
			break;
		}
		}
	}
	check_stats(s);
	sva_pasid_space_free(s);
	return 0;
}
