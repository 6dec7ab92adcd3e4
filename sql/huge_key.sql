-- A key of almost 1 GB (the largest text value) routes: it is hashed where
-- it lies, never copied, and no length overflows.  A file of its own so that
-- the valgrind run, where this one statement takes six minutes, can leave it
-- out (scripts/sanitize.sh); the ASan+UBSan run and every suite run it.
SELECT hashring.ring_create('huge', vnodes => 4);
SELECT hashring.ring_add_node('huge', 'n1');
SELECT hashring.ring_add_node('huge', 'n2');
SELECT hashring.ring_node('huge', repeat('x', 1073741000)) IN ('n1', 'n2') AS routed;
SELECT hashring.ring_drop('huge');
