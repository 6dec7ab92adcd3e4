/*-------------------------------------------------------------------------
 *
 * algorithms.c
 *	  The registry of algorithms, and hashring.ring_algorithms(), which is
 *	  how SQL (the catalog triggers, users) learns what an algorithm takes.
 *
 * Adding an algorithm: write src/algo_NAME.c defining one HashringAlgo
 * with HASHRING_ALGORITHM(hashring_algo_NAME) (hashring.h says what each
 * member means), declare and list it below, add its object to the
 * Makefile, and document and test it (docs/design.md, "How to add").
 * Nothing else asks which algorithm a ring uses.
 *
 * An image records its algorithm as its index in this table (0 is never
 * used, so a zeroed header names none).  Indexes are not stored on disk:
 * the catalog names algorithms by name, and shared memory does not
 * outlive the library.  The order is the order ring_algorithms() lists.
 *
 * No state beyond the constant table.
 *
 *-------------------------------------------------------------------------
 */
#include "hashring.h"

#include "funcapi.h"
#include "utils/builtins.h"

extern const HashringAlgo hashring_algo_vnode;
extern const HashringAlgo hashring_algo_ketama;
extern const HashringAlgo hashring_algo_ketama_twemproxy;
extern const HashringAlgo hashring_algo_ketama_libmemcached;
extern const HashringAlgo hashring_algo_ketama_libmemcached_weighted;
extern const HashringAlgo hashring_algo_ketama_uhashring;
extern const HashringAlgo hashring_algo_jump;
extern const HashringAlgo hashring_algo_maglev;
extern const HashringAlgo hashring_algo_rendezvous;
extern const HashringAlgo hashring_algo_slots;
extern const HashringAlgo hashring_algo_xor;
extern const HashringAlgo hashring_algo_pghash;
extern const HashringAlgo hashring_algo_murmur3;

static const HashringAlgo *const algorithms[] = {
	NULL,
	&hashring_algo_vnode,
	&hashring_algo_ketama,
	&hashring_algo_ketama_twemproxy,
	&hashring_algo_ketama_libmemcached,
	&hashring_algo_ketama_libmemcached_weighted,
	&hashring_algo_ketama_uhashring,
	&hashring_algo_jump,
	&hashring_algo_maglev,
	&hashring_algo_rendezvous,
	&hashring_algo_slots,
	&hashring_algo_xor,
	&hashring_algo_pghash,
	&hashring_algo_murmur3,
};

PG_FUNCTION_INFO_V1(hashring_ring_algorithms);

const HashringAlgo *
hashring_algo(uint32 algorithm)
{
	if (algorithm == 0 || algorithm >= lengthof(algorithms))
		elog(ERROR, "unknown hashring algorithm %u", algorithm);
	return algorithms[algorithm];
}

/* The index of the algorithm with this name, or 0. */
int
hashring_algo_id(const char *name)
{
	for (int i = 1; i < (int) lengthof(algorithms); i++)
		if (strcmp(algorithms[i]->name, name) == 0)
			return i;
	return 0;
}

/*
 * SQL: hashring.ring_algorithms() RETURNS TABLE (algorithm text, weighted
 * boolean, typed_keys boolean, slot_ranges boolean, fixed_order boolean,
 * parameter text, key_space text, node_tokens boolean, whole_weights
 * boolean); before 0.6 without the last two, so only the columns the
 * installed SQL declares are filled
 */
Datum
hashring_ring_algorithms(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	if (rsinfo->setDesc->natts > 9)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("hashring.ring_algorithms() declares %d columns, but the hashring library knows 9",
						rsinfo->setDesc->natts),
				 errhint("The installed library is older than the extension's SQL: install the library of the same release.")));
	for (int i = 1; i < (int) lengthof(algorithms); i++)
	{
		const HashringAlgo *a = algorithms[i];
		/* as many columns as the installed SQL declares (0.5 had 7) */
		Datum values[9];
		bool  nulls[9] = {0};

		values[0] = CStringGetTextDatum(a->name);
		values[1] = BoolGetDatum(a->weighted);
		values[2] = BoolGetDatum(a->typed_keys);
		values[3] = BoolGetDatum(a->slot_ranges);
		values[4] = BoolGetDatum(a->fixed_order);
		if (a->parameter)
			values[5] = CStringGetTextDatum(a->parameter);
		else
			nulls[5] = true;
		values[6] = CStringGetTextDatum(a->key_space_bits > 0 ? psprintf("2^%d hash values", a->key_space_bits)
															  : "table entries");
		values[7] = BoolGetDatum(a->node_tokens);
		values[8] = BoolGetDatum(a->whole_weights);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
