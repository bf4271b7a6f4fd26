/* petal_create_datagram_endpoint_host: resolve the local and remote names
 * off the loop thread, then try one address pair per family, in the order
 * the families first appear (asyncio's create_datagram_endpoint). */
#include <stdlib.h>
#include <string.h>

#include "dgram_internal.h"
#include "petal/resolve.h"

struct attempt {
    struct attempt *prev, *next;   /* the loop's pending attempts */
    struct pending *owner;
    petal_loop_t *loop;
    petal_datagram_protocol_t proto;
    petal_datagram_options_t opts;
    petal_future_t *result;    /* ours; the caller holds another reference */
    petal_future_t *lookup[2]; /* local, remote (NULL: not asked for) */
    int waiting;
};

/* Attempts waiting for their lookups; freed at loop close, when their
 * done-callbacks will never run. */
struct pending {
    struct attempt *head;
};

static const char pending_key;

static void attempt_free(struct attempt *a)
{
    if (a->prev) a->prev->next = a->next;
    else a->owner->head = a->next;
    if (a->next) a->next->prev = a->prev;
    for (int i = 0; i < 2; i++) petal_future_release(a->lookup[i]);
    petal_future_release(a->result);
    free(a);
}

static void pending_destroy(void *arg)
{
    struct pending *p = arg;
    while (p->head) attempt_free(p->head);
    free(p);
}

static int pending_add(struct attempt *a)
{
    struct pending *p = petal_loop_get_local(a->loop, &pending_key);
    if (!p) {
        if (!(p = calloc(1, sizeof *p))) return PETAL_ENOMEM;
        int rc = petal_loop_set_local(a->loop, &pending_key, p, pending_destroy);
        if (rc) {
            free(p);
            return rc;
        }
    }
    a->owner = p;
    a->next = p->head;
    if (p->head) p->head->prev = a;
    p->head = a;
    return 0;
}

/* The first address of family in list, or NULL. */
static const struct addrinfo *first_of(const struct addrinfo *list, int family)
{
    for (; list; list = list->ai_next)
        if (list->ai_family == family) return list;
    return NULL;
}

/* No family common to the local and the remote addresses. */
#ifdef EAI_ADDRFAMILY
#define NO_COMMON_FAMILY PETAL_EAI_ADDRFAMILY
#else
#define NO_COMMON_FAMILY PETAL_EAI_FAMILY
#endif

static int try_pairs(struct attempt *a, const struct addrinfo *local, const struct addrinfo *remote,
                     petal_datagram_transport_t **t)
{
    int rc = NO_COMMON_FAMILY;
    int tried[8], ntried = 0;
    /* families in order of first appearance, local names first */
    for (int side = 0; side < 2; side++) {
        for (const struct addrinfo *ai = side ? remote : local; ai; ai = ai->ai_next) {
            int fam = ai->ai_family, seen = 0;
            for (int i = 0; i < ntried; i++) seen |= tried[i] == fam;
            if (seen || ntried == 8) continue;
            tried[ntried++] = fam;
            const struct addrinfo *l = first_of(local, fam), *r = first_of(remote, fam);
            if ((a->lookup[0] && !l) || (a->lookup[1] && !r)) continue;
            petal_datagram_options_t opts = a->opts;
            opts.family = fam;
            rc = petal_create_datagram_endpoint(a->loop, &a->proto, l ? l->ai_addr : NULL, l ? l->ai_addrlen : 0,
                                                r ? r->ai_addr : NULL, r ? r->ai_addrlen : 0, &opts, t);
            if (rc == 0) return 0;
        }
    }
    return rc;
}

static void on_resolved(petal_future_t *fut, void *arg)
{
    (void)fut;
    struct attempt *a = arg;
    if (--a->waiting) return;
    if (petal_future_done(a->result)) {   /* cancelled by the caller */
        attempt_free(a);
        return;
    }
    const struct addrinfo *list[2] = { NULL, NULL };
    int rc = 0;
    for (int i = 0; i < 2 && !rc; i++)
        if (a->lookup[i]) rc = petal_getaddrinfo_result(a->lookup[i], &list[i]);
    petal_datagram_transport_t *t = NULL;
    if (!rc) rc = try_pairs(a, list[0], list[1], &t);
    if (rc) petal_future_set_error(a->result, rc);
    else petal_future_set_result(a->result, t, NULL);
    attempt_free(a);
}

int petal_create_datagram_endpoint_host(petal_loop_t *loop, const petal_datagram_protocol_t *proto,
                                        const char *local_host, const char *local_service,
                                        const char *remote_host, const char *remote_service,
                                        const petal_datagram_options_t *opts, petal_future_t **out)
{
    if (!out) return PETAL_EINVAL;
    *out = NULL;
    if (!loop || !proto) return PETAL_EINVAL;
    if (petal_loop_is_closed(loop)) return PETAL_ECLOSED;
    bool want_local = local_host || local_service, want_remote = remote_host || remote_service;
    if (!want_local && !want_remote && !(opts && opts->family)) return PETAL_EINVAL;
    struct attempt *a = calloc(1, sizeof *a);
    if (!a) return PETAL_ENOMEM;
    a->loop = loop;
    a->proto = *proto;
    if (opts) a->opts = *opts;
    int rc = pending_add(a);
    if (rc) {
        free(a);
        return rc;
    }
    rc = petal_future_new(loop, &a->result);
    struct addrinfo hints = { .ai_family = a->opts.family, .ai_socktype = SOCK_DGRAM };
    if (!rc && want_local) {
        hints.ai_flags = AI_PASSIVE;   /* NULL host: the wildcard address */
        rc = petal_getaddrinfo(loop, local_host, local_service, &hints, &a->lookup[0]);
    }
    if (!rc && want_remote) {
        hints.ai_flags = 0;
        rc = petal_getaddrinfo(loop, remote_host, remote_service, &hints, &a->lookup[1]);
    }
    if (!rc && !want_local && !want_remote) {   /* nothing to resolve */
        petal_datagram_transport_t *t;
        rc = petal_create_datagram_endpoint(loop, proto, NULL, 0, NULL, 0, &a->opts, &t);
        if (!rc) petal_future_set_result(a->result, t, NULL);
        else petal_future_set_error(a->result, rc);
        *out = petal_future_retain(a->result);
        attempt_free(a);
        return 0;
    }
    for (int i = 0; i < 2 && !rc; i++) {
        if (!a->lookup[i]) continue;
        a->waiting++;
        rc = petal_future_add_done_callback(a->lookup[i], on_resolved, a);
        if (rc) a->waiting--;
    }
    if (rc) {
        for (int i = 0; i < 2; i++)
            if (a->lookup[i]) (void)petal_future_remove_done_callback(a->lookup[i], on_resolved, a);
        attempt_free(a);
        return rc;
    }
    *out = petal_future_retain(a->result);
    return 0;
}
