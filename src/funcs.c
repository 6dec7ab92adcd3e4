/*-------------------------------------------------------------------------
 *
 * funcs.c
 *	  SQL-callable routing functions: ring_node, ring_nodes, ring_balance
 *	  and ring_cache_info, each with a variant on hashring.default_ring.
 *
 * Every function gets the ring image from cache.c and only reads it; the
 * image stays valid until the next call into cache.c.  text and bytea keys
 * share the C functions: the key's bytes are hashed as stored.
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

PG_FUNCTION_INFO_V1(hashring_ring_node);
PG_FUNCTION_INFO_V1(hashring_ring_node_default);
PG_FUNCTION_INFO_V1(hashring_ring_nodes);
PG_FUNCTION_INFO_V1(hashring_ring_nodes_default);
PG_FUNCTION_INFO_V1(hashring_ring_balance);
PG_FUNCTION_INFO_V1(hashring_ring_balance_default);
PG_FUNCTION_INFO_V1(hashring_ring_cache_info);

/* The image for a ring given as text, or the default ring if ring == NULL. */
static const HashringImage *
funcs_image(text *ring, FmgrInfo *flinfo)
{
	if (ring != NULL)
		return hashring_get_image(VARDATA_ANY(ring), VARSIZE_ANY_EXHDR(ring), flinfo);
	return hashring_get_image(hashring_default_ring, strlen(hashring_default_ring), flinfo);
}

/* The image, checked to have a live node to route to. */
static const HashringImage *
funcs_routable_image(text *ring, FmgrInfo *flinfo)
{
	const HashringImage *img = funcs_image(ring, flinfo);

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

static text *
funcs_node_name(const HashringImage *img, uint32 node)
{
	return cstring_to_text_with_len(HR_IMAGE_NAME(img, node),
									HR_IMAGE_NODES(img)[node].name_len);
}

static Datum
funcs_ring_node(FunctionCallInfo fcinfo, text *ring, struct varlena *key)
{
	const HashringImage *img = funcs_routable_image(ring, fcinfo->flinfo);
	uint64				 h = hashring_hash_bytes(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key));

	PG_RETURN_TEXT_P(funcs_node_name(img, hashring_image_owner(img, h)));
}

/* ring_node(ring text, key text|bytea) */
Datum
hashring_ring_node(PG_FUNCTION_ARGS)
{
	return funcs_ring_node(fcinfo, PG_GETARG_TEXT_PP(0), PG_GETARG_VARLENA_PP(1));
}

/* ring_node(key text|bytea) on hashring.default_ring */
Datum
hashring_ring_node_default(PG_FUNCTION_ARGS)
{
	return funcs_ring_node(fcinfo, NULL, PG_GETARG_VARLENA_PP(0));
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
funcs_ring_nodes(FunctionCallInfo fcinfo, text *ring, struct varlena *key, int32 n)
{
	const HashringImage *img;
	uint64				 h;
	uint32				 small[8];
	uint32				*owners;
	int					 found;

	if (n < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("number of nodes must be at least 1"),
				 errdetail("The value given was %d.", n)));
	img = funcs_routable_image(ring, fcinfo->flinfo);
	h = hashring_hash_bytes(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key));
	n = (int32) Min((uint32) n, img->nlive);
	owners = n <= lengthof(small) ? small : palloc(sizeof(uint32) * n);
	found = hashring_image_walk(img, h, n, owners);
	PG_RETURN_ARRAYTYPE_P(funcs_name_array(img, owners, found));
}

/* ring_nodes(ring text, key text|bytea, n integer) */
Datum
hashring_ring_nodes(PG_FUNCTION_ARGS)
{
	return funcs_ring_nodes(fcinfo, PG_GETARG_TEXT_PP(0), PG_GETARG_VARLENA_PP(1),
							PG_GETARG_INT32(2));
}

/* ring_nodes(key text|bytea, n integer) on hashring.default_ring */
Datum
hashring_ring_nodes_default(PG_FUNCTION_ARGS)
{
	return funcs_ring_nodes(fcinfo, NULL, PG_GETARG_VARLENA_PP(0), PG_GETARG_INT32(1));
}

/*
 * ring_balance: one row per node with its exact share of the hash space.
 * Expected shares are weight / total weight of the active nodes; a down node
 * expects and owns nothing, and its deviation is NULL.
 */
static Datum
funcs_ring_balance(FunctionCallInfo fcinfo, text *ring)
{
	ReturnSetInfo			*rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const HashringImage		*img;
	const HashringImageNode *nodes;
	double					*shares;
	double					 live_weight = 0;

	InitMaterializedSRF(fcinfo, 0);
	img = funcs_image(ring, fcinfo->flinfo);
	nodes = HR_IMAGE_NODES(img);
	shares = palloc0(sizeof(double) * Max(img->nnodes, 1));
	if (img->npoints > 0)
		hashring_image_shares(img, shares);
	for (uint32 i = 0; i < img->nnodes; i++)
		if (nodes[i].state == HASHRING_NODE_ACTIVE)
			live_weight += nodes[i].weight;

	for (uint32 i = 0; i < img->nnodes; i++)
	{
		Datum  values[7];
		bool   nulls[7] = {0};
		bool   live = nodes[i].state == HASHRING_NODE_ACTIVE;
		double expected = live ? nodes[i].weight / live_weight : 0.0;

		values[0] = PointerGetDatum(funcs_node_name(img, i));
		values[1] = Float4GetDatum(nodes[i].weight);
		values[2] = Int64GetDatum(nodes[i].points);
		values[3] = Float8GetDatum(shares[i]);
		values[4] = Float8GetDatum(expected);
		if (live)
			values[5] = Float8GetDatum(shares[i] / expected - 1.0);
		else
			nulls[5] = true;
		values[6] = BoolGetDatum(live && shares[i] > hashring_balance_alert_ratio * expected);
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

Datum
hashring_ring_cache_info(PG_FUNCTION_ARGS)
{
	return hashring_cache_info_rows(fcinfo);
}
