/*
 * Preloaded after clang's ASan runtime by scripts/sanitize.sh.  Not part of
 * the extension.
 *
 * Why: PostgreSQL's binaries pull in libp11-kit (libpq/libldap -> gnutls),
 * whose constructor calls newlocale() before the preloaded ASan runtime has
 * run its own constructor.  newlocale() holds glibc's __libc_setlocale_lock
 * and calls malloc(); ASan's malloc initialises the runtime lazily, and the
 * last step of that (Symbolizer::LateInitialize ->
 * InitializeSwiftDemangler) is dlsym(RTLD_DEFAULT, "swift_demangle")
 * followed by dlerror().  dlerror() translates the "undefined symbol"
 * message with dcgettext(), which takes and releases the same lock: the
 * release drops newlocale's write lock and leaves the rwlock's reader count
 * negative, so the next setlocale()/bindtextdomain() (postgres, psql,
 * pg_ctl alike) waits forever.  That is the "hang under LD_PRELOAD".
 *
 * With this symbol present the dlsym() succeeds, no error is pending,
 * dlerror() returns NULL without touching gettext, and nothing deadlocks.
 * ASan calls it only for Swift-mangled names ("_T", "$s", "$S"); returning
 * NULL means "not demangled", which is what it would do without it.
 */
#include <stddef.h>
#include <stdint.h>

char *swift_demangle(const char *mangled, size_t mangled_len, char *out,
					 size_t *out_len, uint32_t flags);

char *
swift_demangle(const char *mangled, size_t mangled_len, char *out,
			   size_t *out_len, uint32_t flags)
{
	return NULL;
}
