/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PASID pages' broker paragraphs read as a user reads them
 * (sva_dev_pasid_alloc(3) "Through a broker", sva_dev_pasids(3),
 * sva_dev_set_pasid_range(3) and sva_dev_bond_lookup(3)): the client's
 * spaces are the blocks the broker leased it, set_pasid_range stays inside
 * the device block, values of other clients' blocks are in none of its
 * spaces, and a client the broker had no device block left for has no own
 * space.  Several broker contexts of this one process are the clients.
 */
#include "ktest_broker.h"

#define GMIN 13u   /* the broker's range starts here: devices' own PASIDs are [1, 12] */
#define OWN_PER 4u /* three blocks of them */
#define PER 8u	   /* global PASIDs per client */

static struct sva_ctx *client(void)
{
	struct sva_ctx_opts o = { .size = sizeof(o), .flags = SVA_CTX_BROKER | SVA_CTX_FAULT_POLL,
				  .broker_path = sock_path, .pasid_grace_ns = UINT64_MAX };
	struct sva_ctx *ctx = NULL;
	int ret = sva_ctx_new(&o, &ctx);

	if (ret)
		ktest_bail("a broker context: %s", strerror(-ret));
	return ctx;
}

static struct sva_pasid_stats stats_of(const struct sva_pasid_space *s)
{
	struct sva_pasid_stats st = { .size = sizeof(st) };

	if (!s || sva_pasid_stats(s, &st))
		memset(&st, 0, sizeof(st));
	return st;
}

int main(void)
{
	struct broker_conf conf;
	struct broker_dev_conf *d;
	struct sva_ctx *c[4];
	struct sva_dev *dev[4];
	struct sva_pasid_stats st, g0, g1;
	struct sva_pasid_space *own0;
	uint32_t p, q;
	pid_t bpid;
	int ret, status;

	ktest_require_iommufd();
	alarm(120);
	sock_dir("pasid-contract");
	broker_conf_defaults(&conf);
	snprintf(conf.socket, sizeof(conf.socket), "%s", sock_path);
	conf.pasids_per_client = PER;
	conf.pasid_min = GMIN;
	conf.pasid_max = GMIN + 4 * PER - 1;
	conf.dev_pasids_per_client = OWN_PER;
	conf.grace_ns = UINT64_MAX;
	d = &conf.devs[conf.ndevs++];
	snprintf(d->name, sizeof(d->name), "m");
	snprintf(d->source, sizeof(d->source), "mock");
	d->uids[d->nuids++] = 0;
	bpid = broker_fork(&conf, NULL, NULL);

	for (int i = 0; i < 4; i++) {
		c[i] = client();
		ret = sva_dev_open(c[i], "m", &dev[i]);
		if (ret)
			ktest_bail("client %d opens m: %s", i, strerror(-ret));
	}
	g0 = stats_of(sva_ctx_global_pasids(c[0]));
	g1 = stats_of(sva_ctx_global_pasids(c[1]));
	ok(g0.max - g0.min + 1 == PER && g0.min >= GMIN, "client 0's global space is a block of %u: [%u, %u]", PER,
	   g0.min, g0.max);
	ok(g1.min != g0.min && g1.max - g1.min + 1 == PER, "client 1's another: [%u, %u]", g1.min, g1.max);
	own0 = sva_dev_pasids(dev[0]);
	st = stats_of(own0);
	ok(own0 && st.max - st.min + 1 == OWN_PER && st.max < GMIN, "client 0's own space of m: a block of %u [%u, %u]",
	   OWN_PER, st.min, st.max);
	ok(sva_dev_pasids(dev[3]) == NULL, "client 3: every device block leased, so no own space");

	/* sva_dev_set_pasid_range(3): bounds are the leased block. */
	is_int(sva_dev_set_pasid_range(dev[0], st.min, st.max), 0, "set_pasid_range to the whole leased block");
	is_int(sva_dev_set_pasid_range(dev[0], st.min + 1, st.max), 0, "narrower");
	st = stats_of(own0);
	is_int(st.min, stats_of(own0).min, "stats agree");
	is_int(sva_dev_set_pasid_range(dev[0], st.min - 1, st.max), 0, "wider again, back to the whole block");
	st = stats_of(own0);
	if (st.min > 1)
		is_int(sva_dev_set_pasid_range(dev[0], st.min - 1, st.max), -ERANGE, "below the leased block: -ERANGE");
	else
		is_int(sva_dev_set_pasid_range(dev[0], 0, st.max), -ERANGE, "min 0: -ERANGE");
	is_int(sva_dev_set_pasid_range(dev[0], st.min, st.max + 1), -ERANGE, "beyond the leased block: -ERANGE");
	is_int(sva_dev_set_pasid_range(dev[0], 1, GMIN - 1), -ERANGE, "the device's whole natural range: -ERANGE");
	st = stats_of(own0);
	ok(st.max - st.min + 1 == OWN_PER, "range unchanged by the refusals [%u, %u]", st.min, st.max);
	is_int(sva_dev_set_pasid_range(dev[3], 1, 1), -ERANGE, "client 3 (no block): -ERANGE");

	/* Policies. */
	p = 99;
	is_int(sva_dev_pasid_alloc(dev[3], SVA_PASID_DEVICE, NULL, &p), -ENOSPC,
	       "client 3: SVA_PASID_DEVICE without a block: -ENOSPC");
	is_int(p, 99, "*pasid untouched");
	is_int(sva_dev_pasid_alloc(dev[3], SVA_PASID_AUTO, NULL, &p), 0, "client 3: AUTO from its global block");
	ok(p >= GMIN, "%u", p);
	sva_dev_pasid_free(dev[3], p);
	is_int(sva_dev_pasid_alloc(dev[0], SVA_PASID_DEVICE, NULL, &q), 0, "client 0: DEVICE");
	st = stats_of(own0);
	ok(q >= st.min && q <= st.max, "from its block (%u)", q);
	is_int(sva_dev_pasid_alloc(dev[0], SVA_PASID_GLOBAL, NULL, &p), 0, "client 0: GLOBAL");
	ok(p >= g0.min && p <= g0.max, "from its global block (%u)", p);

	/* Values of other clients' blocks are in none of client 0's spaces. */
	{
		struct sva_pasid_stats o1 = stats_of(sva_dev_pasids(dev[1]));
		void *dd;

		is_int(sva_dev_pasid_free(dev[0], o1.min), -ERANGE, "free of client 1's device PASID %u: -ERANGE", o1.min);
		is_int(sva_dev_pasid_lookup(dev[0], o1.min, &dd), -ERANGE, "lookup of it: -ERANGE");
		is_int(sva_dev_bond_lookup(dev[0], o1.min, NULL, NULL), -ERANGE, "bond_lookup of it: -ERANGE");
		is_int(sva_dev_pasid_free(dev[0], g1.min), -ERANGE, "free of client 1's global PASID %u: -ERANGE", g1.min);
		is_int(sva_dev_pasid_release(dev[0], g1.min), -ERANGE, "release of it: -ERANGE");
		is_int(sva_dev_pasid_lookup(dev[0], g1.min, &dd), -ERANGE, "lookup of it: -ERANGE");
		is_int(sva_dev_bond_lookup(dev[0], g1.min, NULL, NULL), -ERANGE, "bond_lookup of it: -ERANGE");
		{
			struct sva_mm *mm;
			struct sva_bond *b = NULL;
			struct sva_bind_opts bo = { .size = sizeof(bo), .flags = SVA_BIND_PASID, .pasid = g1.min };

			if (sva_mm_new(c[0], NULL, &mm))
				ktest_bail("sva_mm_new");
			is_int(sva_bind(dev[0], mm, &bo, &b), -ERANGE, "bind under client 1's global PASID: -ERANGE");
			bo.pasid = o1.min;
			is_int(sva_bind(dev[0], mm, &bo, &b), -ERANGE, "bind under client 1's device PASID: -ERANGE");
			sva_mm_free(mm);
		}
	}
	is_int(sva_dev_set_pasid_range(dev[0], stats_of(own0).min, stats_of(own0).max), -EBUSY,
	       "set_pasid_range with a value allocated: -EBUSY");

	/* The broker quarantines the block when the client closes the device. */
	sva_dev_pasid_free(dev[0], q);
	sva_dev_close(dev[0]);
	ret = sva_dev_open(c[0], "m", &dev[0]);
	is_int(ret, 0, "client 0 opens m again");
	if (ret)
		ktest_bail("reopen");
	ok(sva_dev_pasids(dev[0]) == NULL, "its old block is in quarantine, the others leased: no own space");
	p = 99;
	is_int(sva_dev_pasid_alloc(dev[0], SVA_PASID_DEVICE, NULL, &p), -ENOSPC, "SVA_PASID_DEVICE: -ENOSPC");
	is_int(sva_dev_set_pasid_range(dev[0], 1, 1), -ERANGE, "set_pasid_range: -ERANGE");

	for (int i = 3; i >= 0; i--) {
		sva_dev_close(dev[i]);
		sva_ctx_free(c[i]);
	}
	kill(bpid, SIGTERM);
	waitpid(bpid, &status, 0);
	unlink(sock_path);
	rmdir(dir_path);
	return done_testing();
}
