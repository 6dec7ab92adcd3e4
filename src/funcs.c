/*-------------------------------------------------------------------------
 *
 * funcs.c
 *	  SQL-callable routing functions: ring_node, ring_nodes, ring_hash,
 *	  ring_slot, ring_balance, ring_zone_balance and ring_cache_info, with
 *	  variants on hashring.default_ring.
 *
 * Every function gets the ring image from cache.c and only reads it; the
 * image stays valid until the next call into cache.c.  The algorithm's
 * functions do the routing (HashringAlgo).
 *
 * Keys: text and bytea keys share the C functions and are their bytes as
 * stored.  integer, bigint and uuid keys come through the *_typed entry
 * points: an algorithm with typed_keys (pg_hash) gets the value itself,
 * every other algorithm its text form.  fn_extra (FuncsCall) keeps the key
 * type and the cache entry across calls.
 *
 * No shared state.
 *
 *-------------------------------------------------------------------------
 */
#include "hashring.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(hashring_ring_node);
PG_FUNCTION_INFO_V1(hashring_ring_node_default);
PG_FUNCTION_INFO_V1(hashring_ring_node_typed);
PG_FUNCTION_INFO_V1(hashring_ring_node_at);
PG_FUNCTION_INFO_V1(hashring_ring_node_typed_at);
PG_FUNCTION_INFO_V1(hashring_ring_nodes_at);
PG_FUNCTION_INFO_V1(hashring_ring_nodes);
PG_FUNCTION_INFO_V1(hashring_ring_nodes_default);
PG_FUNCTION_INFO_V1(hashring_ring_nodes_typed);
PG_FUNCTION_INFO_V1(hashring_ring_nodes_typed_at);
PG_FUNCTION_INFO_V1(hashring_ring_hash);
PG_FUNCTION_INFO_V1(hashring_ring_slot);
PG_FUNCTION_INFO_V1(hashring_ring_balance);
PG_FUNCTION_INFO_V1(hashring_ring_balance_default);
PG_FUNCTION_INFO_V1(hashring_ring_zone_balance);
PG_FUNCTION_INFO_V1(hashring_ring_balance_replicas);
PG_FUNCTION_INFO_V1(hashring_ring_cache_info);

typedef struct FuncsCall
{
	HashringCacheHint cache_hint; /* cache.c's entry for the last ring used */
	HashringStatsHint stats_hint; /* stats.c's counts for the last image counted */
	Oid				  key_type;
	bool			  key_varlena; /* text or bytea: the bytes as stored */
	FmgrInfo		  key_out;	   /* output function of other key types */
	bool			  key_ready;   /* the three fields above are set */
} FuncsCall;

/* This call site's FuncsCall. */
static inline FuncsCall *
funcs_call(FunctionCallInfo fcinfo)
{
	if (unlikely(fcinfo->flinfo->fn_extra == NULL))
		fcinfo->flinfo->fn_extra = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(FuncsCall));
	return fcinfo->flinfo->fn_extra;
}

/*
 * Learn the type of the key (argument `keyarg`) once per call site: text and
 * bytea are routed by their bytes, other types by their output function.
 * `typed` says the entry point takes integer, bigint or uuid keys; it only
 * matters when the expression gives no type (then text is assumed unless
 * typed).
 */
static void
funcs_key_type(FunctionCallInfo fcinfo, FuncsCall *call, int keyarg, bool typed)
{
	call->key_type = get_fn_expr_argtype(fcinfo->flinfo, keyarg);
	if (call->key_type == TEXTOID || call->key_type == BYTEAOID ||
		(!typed && !OidIsValid(call->key_type)))
	{
		/* text or bytea; without expression information, text */
		if (call->key_type != BYTEAOID)
			call->key_type = TEXTOID;
		call->key_varlena = true;
	}
	else
	{
		Oid	 out;
		bool isvarlena;

		if (!OidIsValid(call->key_type))
			ereport(ERROR,
					(errcode(ERRCODE_INDETERMINATE_DATATYPE),
					 errmsg("could not determine the type of the key")));
		getTypeOutputInfo(call->key_type, &out, &isvarlena);
		fmgr_info_cxt(out, &call->key_out, fcinfo->flinfo->fn_mcxt);
	}
	call->key_ready = true;
}

/*
 * The image for a ring given as text, or the default ring if ring == NULL,
 * at `version` (0: the version this snapshot sees).
 */
static const HashringImage *
funcs_image_at(text *ring, int64 version, FunctionCallInfo fcinfo)
{
	FuncsCall  *call = funcs_call(fcinfo);
	const char *dflt;

	if (ring != NULL)
		return hashring_get_image(VARDATA_ANY(ring), VARSIZE_ANY_EXHDR(ring), version, &call->cache_hint);
	dflt = hashring_setting_default_ring();
	return hashring_get_image(dflt, strlen(dflt), version, &call->cache_hint);
}

static const HashringImage *
funcs_image(text *ring, FunctionCallInfo fcinfo)
{
	return funcs_image_at(ring, 0, fcinfo);
}

/* The image, checked to have a live node to route to. */
static const HashringImage *
funcs_routable_image(text *ring, int64 version, FunctionCallInfo fcinfo)
{
	const HashringImage *img = funcs_image_at(ring, version, fcinfo);

	if (unlikely(img->nlive == 0))
	{
		if (img->nnodes == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("ring \"%s\" has no nodes", img->ring),
					 errhint("Add nodes with hashring.ring_add_node().")));
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("ring \"%s\" has no active nodes", img->ring),
				 errdetail("All %u nodes of the ring are down.", img->nnodes),
				 errhint("Set a node active with hashring.ring_set_state().")));
	}
	return img;
}

/* The key in argument `keyarg` as the image's algorithm needs it. */
static void
funcs_key(FunctionCallInfo fcinfo, int keyarg, bool typed, const HashringImage *img, HashringKey *key)
{
	FuncsCall *call = funcs_call(fcinfo);
	Datum	   d = PG_GETARG_DATUM(keyarg);

	if (unlikely(!call->key_ready))
		funcs_key_type(fcinfo, call, keyarg, typed);

	key->type = call->key_type;
	key->collation = PG_GET_COLLATION();
	if (call->key_varlena)
	{
		struct varlena *v = PG_DETOAST_DATUM_PACKED(d);

		key->value = PointerGetDatum(v);
		key->data = VARDATA_ANY(v);
		key->len = VARSIZE_ANY_EXHDR(v);
	}
	else
	{
		key->value = d;
		key->data = NULL;
		key->len = 0;
		if (!hashring_algo(img->algorithm)->typed_keys)
		{
			char *s = OutputFunctionCall(&call->key_out, d);

			key->data = s;
			key->len = strlen(s);
		}
	}
}

/*
 * Give a routed key to the hottest-keys summary (hotkeys.c): its bytes, or
 * for a typed key that reached the algorithm as its value (pg_hash) its
 * text form, made only here, with key tracking on.
 */
static void
funcs_count_key(FunctionCallInfo fcinfo, const HashringImage *img, const HashringKey *key)
{
	if (key->data != NULL)
		hashring_hotkeys_count(img, key->data, (uint32) key->len, InvalidOid);
	else
	{
		char *s = OutputFunctionCall(&funcs_call(fcinfo)->key_out, key->value);

		hashring_hotkeys_count(img, s, (uint32) strlen(s), key->type);
		pfree(s);
	}
}

static text *
funcs_node_name(const HashringImage *img, uint32 node)
{
	return cstring_to_text_with_len(HR_IMAGE_NAME(img, node),
									HR_IMAGE_NODES(img)[node].name_len);
}

/* A version argument: a committed version number, 1 or more. */
static int64
funcs_version_arg(FunctionCallInfo fcinfo, int argno)
{
	int64 version = PG_GETARG_INT64(argno);

	if (version < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ring version must be at least 1"),
				 errdetail("The value given was " INT64_FORMAT ".", version)));
	return version;
}

/*
 * ring_node: ring in argument 0 (or the default ring if !with_ring), at
 * `version` (0: the current one).
 */
static Datum
funcs_ring_node(FunctionCallInfo fcinfo, bool with_ring, bool typed, int64 version)
{
	const HashringImage *img = funcs_routable_image(with_ring ? PG_GETARG_TEXT_PP(0) : NULL, version, fcinfo);
	HashringKey			 key;
	uint32				 owner;

	funcs_key(fcinfo, with_ring ? 1 : 0, typed, img, &key);
	owner = hashring_owner(img, &key);
	if (hashring_setting_track_routing())
	{
		hashring_stats_count(&funcs_call(fcinfo)->stats_hint, img, owner);
		if (hashring_setting_track_keys())
			funcs_count_key(fcinfo, img, &key);
	}
	PG_RETURN_TEXT_P(funcs_node_name(img, owner));
}

/* ring_node(ring text, key text|bytea) */
Datum
hashring_ring_node(PG_FUNCTION_ARGS)
{
	return funcs_ring_node(fcinfo, true, false, 0);
}

/* ring_node(key text|bytea) on hashring.default_ring */
Datum
hashring_ring_node_default(PG_FUNCTION_ARGS)
{
	return funcs_ring_node(fcinfo, false, false, 0);
}

/* ring_node(ring text, key integer|bigint|uuid) */
Datum
hashring_ring_node_typed(PG_FUNCTION_ARGS)
{
	return funcs_ring_node(fcinfo, true, true, 0);
}

/* ring_node(ring text, key text|bytea, version bigint) */
Datum
hashring_ring_node_at(PG_FUNCTION_ARGS)
{
	return funcs_ring_node(fcinfo, true, false, funcs_version_arg(fcinfo, 2));
}

/* ring_node(ring text, key integer|bigint|uuid, version bigint) */
Datum
hashring_ring_node_typed_at(PG_FUNCTION_ARGS)
{
	return funcs_ring_node(fcinfo, true, true, funcs_version_arg(fcinfo, 2));
}

/*
 * A one-dimensional text[] of the named nodes, built in one allocation (the
 * layout construct_array would produce, without its per-element work).
 */
static ArrayType *
funcs_name_array(const HashringImage *img, const uint32 *owners, int n)
{
	const HashringImageNode *nodes = HR_IMAGE_NODES(img);
	Size					 nbytes = ARR_OVERHEAD_NONULLS(1);
	ArrayType				*result;
	char					*p;

	for (int i = 0; i < n; i++)
		nbytes += INTALIGN(VARHDRSZ + nodes[owners[i]].name_len);
	result = (ArrayType *) palloc0(nbytes);
	SET_VARSIZE(result, nbytes);
	result->ndim = 1;
	result->dataoffset = 0;
	result->elemtype = TEXTOID;
	ARR_DIMS(result)
	[0] = n;
	ARR_LBOUND(result)
	[0] = 1;
	p = ARR_DATA_PTR(result);
	for (int i = 0; i < n; i++)
	{
		uint32 len = nodes[owners[i]].name_len;

		SET_VARSIZE(p, VARHDRSZ + len);
		memcpy(VARDATA(p), HR_IMAGE_NAME(img, owners[i]), len);
		p += INTALIGN(VARHDRSZ + len);
	}
	return result;
}

static Datum
funcs_ring_nodes(FunctionCallInfo fcinfo, bool with_ring, bool typed, int64 version)
{
	const HashringImage *img;
	int32				 n = PG_GETARG_INT32(with_ring ? 2 : 1);
	HashringKey			 key;
	uint32				 small[8];
	uint32				*owners;
	int					 found;

	if (n < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("number of nodes must be at least 1"),
				 errdetail("The value given was %d.", n)));
	img = funcs_routable_image(with_ring ? PG_GETARG_TEXT_PP(0) : NULL, version, fcinfo);
	funcs_key(fcinfo, with_ring ? 1 : 0, typed, img, &key);
	n = (int32) Min((uint32) n, img->nlive);
	owners = n <= lengthof(small) ? small : palloc(sizeof(uint32) * n);
	found = hashring_preference(img, &key, n, owners);
	if (hashring_setting_track_routing())
	{
		hashring_stats_count(&funcs_call(fcinfo)->stats_hint, img, owners[0]);
		if (hashring_setting_track_keys())
			funcs_count_key(fcinfo, img, &key);
	}
	PG_RETURN_ARRAYTYPE_P(funcs_name_array(img, owners, found));
}

/* ring_nodes(ring text, key text|bytea, n integer) */
Datum
hashring_ring_nodes(PG_FUNCTION_ARGS)
{
	return funcs_ring_nodes(fcinfo, true, false, 0);
}

/* ring_nodes(key text|bytea, n integer) on hashring.default_ring */
Datum
hashring_ring_nodes_default(PG_FUNCTION_ARGS)
{
	return funcs_ring_nodes(fcinfo, false, false, 0);
}

/* ring_nodes(ring text, key integer|bigint|uuid, n integer) */
Datum
hashring_ring_nodes_typed(PG_FUNCTION_ARGS)
{
	return funcs_ring_nodes(fcinfo, true, true, 0);
}

/* ring_nodes(ring text, key integer|bigint|uuid, n integer, version bigint) */
Datum
hashring_ring_nodes_typed_at(PG_FUNCTION_ARGS)
{
	return funcs_ring_nodes(fcinfo, true, true, funcs_version_arg(fcinfo, 3));
}

/* ring_nodes(ring text, key text|bytea, n integer, version bigint) */
Datum
hashring_ring_nodes_at(PG_FUNCTION_ARGS)
{
	return funcs_ring_nodes(fcinfo, true, false, funcs_version_arg(fcinfo, 3));
}

/* ring_hash(ring text, key any supported type) */
Datum
hashring_ring_hash(PG_FUNCTION_ARGS)
{
	const HashringImage *img = funcs_image(PG_GETARG_TEXT_PP(0), fcinfo);
	HashringKey			 key;

	/* the key's type (text, bytea or a typed key) is learnt once per call site */
	funcs_key(fcinfo, 1, false, img, &key);
	PG_RETURN_INT64(hashring_algo(img->algorithm)->key_hash(img, &key));
}

/* ring_slot(key text|bytea): the Redis Cluster hash slot */
Datum
hashring_ring_slot(PG_FUNCTION_ARGS)
{
	struct varlena *key = PG_GETARG_VARLENA_PP(0);

	PG_RETURN_INT32(hashring_key_slot(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key)));
}

/*
 * The pinned keys each node index is routed (a pin of a down node goes
 * where its key's preference list goes next); none without a live node.
 */
static int64 *
funcs_pinned_keys(const HashringImage *img)
{
	int64 *pinned = palloc0(sizeof(int64) * Max(img->nnodes, 1));

	if (img->npins == 0 || img->nlive == 0)
		return pinned;
	for (uint32 s = 0; s <= img->pin_mask; s++)
	{
		HashringKey key;

		if (hashring_pin_key(img, s, &key))
			pinned[hashring_owner(img, &key)]++;
	}
	return pinned;
}

/*
 * ring_balance: one row per node with its exact share of the hash space.
 * Expected shares are weight / total weight of the active nodes; a down node
 * expects and owns nothing, and its deviation is NULL.  Pinned keys have
 * no share of the hash space: they are counted apart (pinned_keys).
 */
static Datum
funcs_ring_balance(FunctionCallInfo fcinfo, text *ring)
{
	ReturnSetInfo			*rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const HashringImage		*img;
	const HashringImageNode *nodes;
	const HashringAlgo		*algo;
	double					*shares;
	double					 live_weight = 0;
	int64					*pinned;

	InitMaterializedSRF(fcinfo, 0);
	img = funcs_image(ring, fcinfo);
	algo = hashring_algo(img->algorithm);
	nodes = HR_IMAGE_NODES(img);
	shares = palloc0(sizeof(double) * Max(img->nnodes, 1));
	if (img->nlive > 0)
		algo->shares(img, shares);
	for (uint32 i = 0; i < img->nnodes; i++)
		if (nodes[i].state == HASHRING_NODE_ACTIVE)
			live_weight += nodes[i].weight;
	pinned = funcs_pinned_keys(img);

	for (uint32 i = 0; i < img->nnodes; i++)
	{
		Datum  values[8];
		bool   nulls[8] = {0};
		bool   live = nodes[i].state == HASHRING_NODE_ACTIVE;
		double expected = live ? nodes[i].weight / live_weight : 0.0;

		values[0] = PointerGetDatum(funcs_node_name(img, i));
		values[1] = Float4GetDatum(nodes[i].weight);
		values[2] = Int64GetDatum(nodes[i].points);
		nulls[2] = !algo->has_points;
		values[3] = Float8GetDatum(shares[i]);
		values[4] = Float8GetDatum(expected);
		if (live)
			values[5] = Float8GetDatum(shares[i] / expected - 1.0);
		else
			nulls[5] = true;
		values[6] = BoolGetDatum(live && shares[i] > hashring_setting_balance_alert_ratio() * expected);
		values[7] = Int64GetDatum(pinned[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

Datum
hashring_ring_balance(PG_FUNCTION_ARGS)
{
	return funcs_ring_balance(fcinfo, PG_GETARG_TEXT_PP(0));
}

Datum
hashring_ring_balance_default(PG_FUNCTION_ARGS)
{
	return funcs_ring_balance(fcinfo, NULL);
}

/* Keys the balance of copies routes when an algorithm's cells cannot be enumerated. */
#define FUNCS_COPIES_SAMPLE 100000

/* The number of copies asked for (NULL: the ring's replicas), at most nlive. */
static int
funcs_copies_wanted(FunctionCallInfo fcinfo, int arg, const HashringImage *img)
{
	int n = PG_ARGISNULL(arg) ? (int) img->replicas : PG_GETARG_INT32(arg);

	if (n < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("number of replicas must be at least 1"),
				 errdetail("The value given was %d.", n)));
	return (int) Min((uint32) n, img->nlive);
}

/*
 * Where the n copies of every key lie: copies[node] = the share of all
 * copies (each key's n placements weigh 1/n each) on node index `node`,
 * seconds[node] the share of its copies 2..n (each 1/(n-1); all zero when
 * n = 1).  Exact where the algorithm's key space enumerates as cells
 * (HashringAlgo.cells), else estimated over FUNCS_COPIES_SAMPLE keys; the
 * result says which.  Pinned keys have no share of the key space.
 */
static bool
funcs_copies(const HashringImage *img, int n, double *copies, double *seconds)
{
	const HashringAlgo *algo = hashring_algo(img->algorithm);
	uint32			   *owners = palloc(sizeof(uint32) * Max(n, 1));
	uint32				cells = algo->cells ? algo->cells(img) : FUNCS_COPIES_SAMPLE;

	memset(copies, 0, sizeof(double) * img->nnodes);
	memset(seconds, 0, sizeof(double) * img->nnodes);
	if (img->nlive == 0)
		return algo->cells != NULL;
	for (uint32 c = 0; c < cells; c++)
	{
		double share;
		int	   found;

		CHECK_FOR_INTERRUPTS();
		if (algo->cells)
		{
			share = algo->cell_share(img, c);
			if (share <= 0)
				continue;
			found = hashring_cell_preference(img, c, n, owners);
		}
		else
		{
			char		buf[32];
			HashringKey key = {0};

			key.len = snprintf(buf, sizeof(buf), "zone-sample-%u", c);
			key.data = buf;
			share = 1.0 / FUNCS_COPIES_SAMPLE;
			found = hashring_preference(img, &key, n, owners);
		}
		for (int i = 0; i < found; i++)
		{
			copies[owners[i]] += share / found;
			if (i > 0)
				seconds[owners[i]] += share / (found - 1);
		}
	}
	pfree(owners);
	return algo->cells != NULL;
}

/* The live weight of the ring's active nodes. */
static double
funcs_live_weight(const HashringImage *img)
{
	double w = 0;

	for (uint32 i = 0; i < img->nnodes; i++)
		if (HR_NODE_LIVE(img, i))
			w += HR_IMAGE_NODES(img)[i].weight;
	return w;
}

/* A zone's name, or NULL for the nodes without one. */
static bool
funcs_zone_name(const HashringImage *img, uint32 z, Datum *value)
{
	const HashringImageZone *zone = &HR_IMAGE_ZONES(img)[z];

	if (zone->name_len == HR_ZONE_UNNAMED)
		return false;
	*value = PointerGetDatum(cstring_to_text_with_len((const char *) img + zone->name_off, (int) zone->name_len));
	return true;
}

/*
 * ring_balance(ring, replicas): per node, its zone, weight and the share
 * it should hold (its weight over the live weight), the share of primaries
 * it owns (exact, from the algorithm's shares) and its share of the
 * replica copies 2..n (NULL with one copy), exact or estimated as
 * funcs_copies says; overloaded when either share passes
 * hashring.balance_alert_ratio times the expected one.
 */
Datum
hashring_ring_balance_replicas(PG_FUNCTION_ARGS)
{
	ReturnSetInfo			*rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const HashringImage		*img;
	const HashringImageNode *nodes;
	double					*shares;
	double					*copies;
	double					*seconds;
	double					 live_weight;
	double					 ratio = hashring_setting_balance_alert_ratio();
	int						 n;
	bool					 exact;

	InitMaterializedSRF(fcinfo, 0);
	img = funcs_image(PG_GETARG_TEXT_PP(0), fcinfo);
	n = funcs_copies_wanted(fcinfo, 1, img);
	nodes = HR_IMAGE_NODES(img);
	shares = palloc0(sizeof(double) * Max(img->nnodes, 1));
	copies = palloc(sizeof(double) * Max(img->nnodes, 1));
	seconds = palloc(sizeof(double) * Max(img->nnodes, 1));
	if (img->nlive > 0)
		hashring_algo(img->algorithm)->shares(img, shares);
	exact = funcs_copies(img, n, copies, seconds);
	live_weight = funcs_live_weight(img);

	for (uint32 i = 0; i < img->nnodes; i++)
	{
		Datum  values[8];
		bool   nulls[8] = {0};
		bool   live = HR_NODE_LIVE(img, i);
		double expected = live ? nodes[i].weight / live_weight : 0.0;

		values[0] = PointerGetDatum(funcs_node_name(img, i));
		nulls[1] = !funcs_zone_name(img, nodes[i].zone, &values[1]);
		values[2] = Float4GetDatum(nodes[i].weight);
		values[3] = Float8GetDatum(expected);
		values[4] = Float8GetDatum(shares[i]);
		values[5] = Float8GetDatum(seconds[i]);
		nulls[5] = n < 2;
		values[6] = BoolGetDatum(live && (shares[i] > ratio * expected || (n >= 2 && seconds[i] > ratio * expected)));
		values[7] = BoolGetDatum(exact);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * ring_zone_balance(ring, replicas): per zone, its live nodes and weight,
 * the share it should hold (its live weight over the ring's), the share of
 * primaries it owns (exact, from the algorithm's shares) and the share of
 * replica placements it holds, with `replicas` copies per key (NULL: the
 * ring's replicas), exact or estimated as funcs_copies says.
 */
Datum
hashring_ring_zone_balance(PG_FUNCTION_ARGS)
{
	ReturnSetInfo			*rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const HashringImage		*img;
	const HashringImageNode *nodes;
	double					*shares;
	double					*copies;
	double					*seconds;
	double					*primary;
	double					*placements;
	double					*weight;
	int32					*live;
	double					 live_weight;
	double					 ratio = hashring_setting_balance_alert_ratio();
	bool					 exact;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		return (Datum) 0;
	img = funcs_image(PG_GETARG_TEXT_PP(0), fcinfo);
	nodes = HR_IMAGE_NODES(img);
	shares = palloc0(sizeof(double) * Max(img->nnodes, 1));
	copies = palloc(sizeof(double) * Max(img->nnodes, 1));
	seconds = palloc(sizeof(double) * Max(img->nnodes, 1));
	primary = palloc0(sizeof(double) * Max(img->nzones, 1));
	placements = palloc0(sizeof(double) * Max(img->nzones, 1));
	weight = palloc0(sizeof(double) * Max(img->nzones, 1));
	live = palloc0(sizeof(int32) * Max(img->nzones, 1));
	if (img->nlive > 0)
		hashring_algo(img->algorithm)->shares(img, shares);
	exact = funcs_copies(img, funcs_copies_wanted(fcinfo, 1, img), copies, seconds);
	live_weight = funcs_live_weight(img);
	for (uint32 i = 0; i < img->nnodes; i++)
	{
		primary[nodes[i].zone] += shares[i];
		placements[nodes[i].zone] += copies[i];
		if (HR_NODE_LIVE(img, i))
		{
			live[nodes[i].zone]++;
			weight[nodes[i].zone] += nodes[i].weight;
		}
	}

	for (uint32 z = 0; z < img->nzones; z++)
	{
		Datum  values[8];
		bool   nulls[8] = {0};
		double expected = live_weight > 0 ? weight[z] / live_weight : 0.0;

		nulls[0] = !funcs_zone_name(img, z, &values[0]);
		values[1] = Int32GetDatum(live[z]);
		values[2] = Float8GetDatum(weight[z]);
		values[3] = Float8GetDatum(expected);
		values[4] = Float8GetDatum(primary[z]);
		values[5] = Float8GetDatum(placements[z]);
		values[6] = BoolGetDatum(live[z] > 0 && (primary[z] > ratio * expected || placements[z] > ratio * expected));
		values[7] = BoolGetDatum(exact);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

Datum
hashring_ring_cache_info(PG_FUNCTION_ARGS)
{
	return hashring_cache_info_rows(fcinfo);
}
