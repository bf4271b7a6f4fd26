/* Name resolution that never blocks the loop (asyncio's loop.getaddrinfo and
 * loop.getnameinfo).
 *
 * Lookups run getaddrinfo(3)/getnameinfo(3) on the loop's executor pool
 * (petal/executor.h: at most 4 threads by default, created lazily). A numeric
 * host ("127.0.0.1", "::1") or a NULL host is answered without a thread, but
 * still through the future, on the next iteration: the caller sees the same
 * order of events either way.
 *
 * Cancelling the future drops a lookup not yet started; a running one
 * finishes on its worker and its result is freed. petal_loop_free() with
 * lookups in flight waits for the ones already running (bounded by the
 * system resolver's timeout, see resolv.conf(5)) and frees everything. */
#ifndef PETAL_RESOLVE_H
#define PETAL_RESOLVE_H

#include <netdb.h>
#include <sys/socket.h>

#include "petal/future.h"

#ifdef __cplusplus
extern "C" {
#endif

/* getaddrinfo's EAI_* errors as petal codes: PETAL_EAI_x == -4300 + EAI_x
 * (glibc's EAI_* values are negative), so -4301..-4399. petal_strerror()
 * describes them. Two EAI_* errors map elsewhere: EAI_MEMORY is
 * PETAL_ENOMEM and EAI_SYSTEM is the negated errno it carries. */
#define PETAL_EAI_BASE       (-4300)
#define PETAL_EAI_BADFLAGS   (PETAL_EAI_BASE + EAI_BADFLAGS)   /* invalid hints->ai_flags */
#define PETAL_EAI_NONAME     (PETAL_EAI_BASE + EAI_NONAME)     /* unknown name or service */
#define PETAL_EAI_AGAIN      (PETAL_EAI_BASE + EAI_AGAIN)      /* temporary failure (no DNS answer) */
#define PETAL_EAI_FAIL       (PETAL_EAI_BASE + EAI_FAIL)       /* permanent resolver failure */
#define PETAL_EAI_FAMILY     (PETAL_EAI_BASE + EAI_FAMILY)     /* ai_family not supported */
#define PETAL_EAI_SOCKTYPE   (PETAL_EAI_BASE + EAI_SOCKTYPE)   /* ai_socktype not supported */
#define PETAL_EAI_SERVICE    (PETAL_EAI_BASE + EAI_SERVICE)    /* service not available for the socket type */
#define PETAL_EAI_OVERFLOW   (PETAL_EAI_BASE + EAI_OVERFLOW)   /* getnameinfo: buffer too small */
#ifdef EAI_NODATA
#define PETAL_EAI_NODATA     (PETAL_EAI_BASE + EAI_NODATA)     /* name known, no address */
#endif
#ifdef EAI_ADDRFAMILY
#define PETAL_EAI_ADDRFAMILY (PETAL_EAI_BASE + EAI_ADDRFAMILY) /* no address in the requested family */
#endif

/* Converts a getaddrinfo/getnameinfo return value (with errno for
 * EAI_SYSTEM) to a petal code; 0 stays 0. */
int petal_eai_error(int eai, int saved_errno);

/* Starts getaddrinfo(host, service, hints). host and service may not both be
 * NULL. hints NULL means every field 0 (asyncio's defaults: any family, any
 * socket type, no flags), not the C library's AI_V4MAPPED | AI_ADDRCONFIG.
 * The strings and hints are copied. *out gets a new future (the caller owns
 * the reference) whose result is the struct addrinfo list; the future owns
 * the list and frees it with freeaddrinfo(3) when it is released. Lookup
 * errors complete the future with a PETAL_EAI_* code, PETAL_ENOMEM or -errno.
 * Returns 0, or PETAL_EINVAL / PETAL_ECLOSED / PETAL_ENOMEM and no future. */
int petal_getaddrinfo(petal_loop_t *loop, const char *host, const char *service, const struct addrinfo *hints,
                      petal_future_t **out);
/* The list of a finished petal_getaddrinfo future (owned by the future), or
 * its error code (PETAL_EINVALSTATE while pending, PETAL_ECANCELED). */
int petal_getaddrinfo_result(const petal_future_t *fut, const struct addrinfo **list);

/* getnameinfo(3): the host and service names of an address. */
typedef struct petal_nameinfo {
    char host[NI_MAXHOST];
    char service[NI_MAXSERV];
} petal_nameinfo_t;

/* Starts getnameinfo(addr, flags) (NI_* flags); addr is copied. The future's
 * result is a petal_nameinfo_t owned by the future. NI_NUMERICHOST |
 * NI_NUMERICSERV lookups are answered without a thread. */
int petal_getnameinfo(petal_loop_t *loop, const struct sockaddr *addr, socklen_t addrlen, int flags,
                      petal_future_t **out);
int petal_getnameinfo_result(const petal_future_t *fut, const petal_nameinfo_t **info);

#ifdef __cplusplus
}
#endif
#endif
