-- Install the extension and check what it created.
CREATE EXTENSION hashring;
SELECT extname, extversion, extnamespace::regnamespace FROM pg_extension WHERE extname = 'hashring';
-- every function is documented with a comment
SELECT p.oid::regprocedure AS function, obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented,
       p.provolatile, p.proisstrict, p.proparallel
  FROM pg_proc p WHERE p.pronamespace = 'hashring'::regnamespace
 ORDER BY p.oid::regprocedure::text;
-- membership tables are kept by pg_dump
SELECT unnest(extconfig)::regclass FROM pg_extension WHERE extname = 'hashring' ORDER BY 1::text;
SHOW hashring.default_ring;
SHOW hashring.balance_alert_ratio;
SHOW hashring.shared_memory;
-- the prefix is reserved
SET hashring.no_such_setting = 1;
