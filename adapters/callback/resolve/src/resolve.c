/* getaddrinfo / getnameinfo on the loop's executor pool. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "petal/resolve.h"
#include "pool.h"

int petal_eai_error(int eai, int saved_errno)
{
    switch (eai) {
    case 0: return 0;
    case EAI_MEMORY: return PETAL_ENOMEM;
    case EAI_SYSTEM: return saved_errno > 0 ? -saved_errno : PETAL_EAI_FAIL;
    default: break;
    }
    /* glibc's GNU extensions (EAI_INPROGRESS, ...) lie below -99 */
    if (eai < 0 && eai > -100) return PETAL_EAI_BASE + eai;
    return PETAL_EAI_FAIL;
}

struct gai_req {
    char *host, *service;
    struct addrinfo hints;
};

static void gai_req_free(void *arg)
{
    struct gai_req *r = arg;
    free(r->host);
    free(r->service);
    free(r);
}

static void addrinfo_free(void *value)
{
    freeaddrinfo(value);
}

static int gai_run(struct gai_req *r, int extra_flags, void **value, petal_dtor *dtor)
{
    struct addrinfo hints = r->hints, *res = NULL;
    hints.ai_flags |= extra_flags;
    int eai = getaddrinfo(r->host, r->service, &hints, &res);
    int err = petal_eai_error(eai, errno);
    if (err) return err;
    *value = res;
    *dtor = addrinfo_free;
    return 0;
}

static int gai_work(void *arg, void **value, petal_dtor *dtor)
{
    return gai_run(arg, 0, value, dtor);
}

static char *dup_or_null(const char *s, bool *failed)
{
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *failed = true;
    return d;
}

int petal_getaddrinfo(petal_loop_t *loop, const char *host, const char *service, const struct addrinfo *hints,
                      petal_future_t **out)
{
    if (!out) return PETAL_EINVAL;
    *out = NULL;
    if (!loop || (!host && !service)) return PETAL_EINVAL;
    if (petal_loop_is_closed(loop)) return PETAL_ECLOSED;
    struct gai_req *r = calloc(1, sizeof *r);
    if (!r) return PETAL_ENOMEM;
    bool failed = false;
    r->host = dup_or_null(host, &failed);
    r->service = dup_or_null(service, &failed);
    if (hints) {
        r->hints.ai_flags = hints->ai_flags;
        r->hints.ai_family = hints->ai_family;
        r->hints.ai_socktype = hints->ai_socktype;
        r->hints.ai_protocol = hints->ai_protocol;
    }
    if (failed) {
        gai_req_free(r);
        return PETAL_ENOMEM;
    }
    /* A numeric host and service need no name service: answer on this
     * thread (getaddrinfo does not block for them), deliver like the rest. */
    void *value = NULL;
    petal_dtor dtor = NULL;
    int rc = gai_run(r, AI_NUMERICHOST | AI_NUMERICSERV, &value, &dtor);
    if (rc != PETAL_EAI_NONAME ||
        (r->hints.ai_flags & (AI_NUMERICHOST | AI_NUMERICSERV)) == (AI_NUMERICHOST | AI_NUMERICSERV)) {
        gai_req_free(r);
        return executor_complete_soon(loop, rc, value, dtor, out);
    }
    rc = petal_run_in_executor(loop, gai_work, r, gai_req_free, out);
    if (rc) gai_req_free(r);
    return rc;
}

int petal_getaddrinfo_result(const petal_future_t *fut, const struct addrinfo **list)
{
    if (!list) return PETAL_EINVAL;
    *list = NULL;
    void *value;
    int rc = petal_future_result(fut, &value);
    if (rc == 0) *list = value;
    return rc;
}

struct gni_req {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int flags;
};

static int gni_run(const struct gni_req *r, void **value, petal_dtor *dtor)
{
    petal_nameinfo_t *ni = calloc(1, sizeof *ni);
    if (!ni) return PETAL_ENOMEM;
    int eai = getnameinfo((const struct sockaddr *)&r->addr, r->addrlen, ni->host, sizeof ni->host, ni->service,
                          sizeof ni->service, r->flags);
    int err = petal_eai_error(eai, errno);
    if (err) {
        free(ni);
        return err;
    }
    *value = ni;
    *dtor = free;
    return 0;
}

static int gni_work(void *arg, void **value, petal_dtor *dtor)
{
    return gni_run(arg, value, dtor);
}

int petal_getnameinfo(petal_loop_t *loop, const struct sockaddr *addr, socklen_t addrlen, int flags,
                      petal_future_t **out)
{
    if (!out) return PETAL_EINVAL;
    *out = NULL;
    if (!loop || !addr || addrlen < (socklen_t)sizeof(sa_family_t) || addrlen > sizeof(struct sockaddr_storage))
        return PETAL_EINVAL;
    if (petal_loop_is_closed(loop)) return PETAL_ECLOSED;
    struct gni_req *r = calloc(1, sizeof *r);
    if (!r) return PETAL_ENOMEM;
    memcpy(&r->addr, addr, addrlen);
    r->addrlen = addrlen;
    r->flags = flags;
    if ((flags & (NI_NUMERICHOST | NI_NUMERICSERV)) == (NI_NUMERICHOST | NI_NUMERICSERV)) {
        void *value = NULL;
        petal_dtor dtor = NULL;
        int rc = gni_run(r, &value, &dtor);
        free(r);
        return executor_complete_soon(loop, rc, value, dtor, out);
    }
    int rc = petal_run_in_executor(loop, gni_work, r, free, out);
    if (rc) free(r);
    return rc;
}

int petal_getnameinfo_result(const petal_future_t *fut, const petal_nameinfo_t **info)
{
    if (!info) return PETAL_EINVAL;
    *info = NULL;
    void *value;
    int rc = petal_future_result(fut, &value);
    if (rc == 0) *info = value;
    return rc;
}
