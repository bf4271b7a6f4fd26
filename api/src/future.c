/* Futures (asyncio.Future): pending -> done | cancelled, once. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "future_internal.h"

static struct done_cb *cb_at(petal_future_t *f, uint32_t i)
{
    return i == 0 ? &f->first : &f->more[i - 1];
}

petal_future_t *future_alloc_slow(void)
{
    return aligned_alloc(_Alignof(petal_future_t), sizeof(petal_future_t));
}

/* The last reference went (future_unref did not keep it): run the
 * destructor, then keep f for reuse if its loop is open and another
 * reference holds the loop's memory, else free it. */
void future_free(petal_future_t *f)
{
    petal_loop_t *loop = f->loop;
    if (f->dtor) f->dtor(f->value);
    if (f->heap) free(f->more);
    if (FUTURES_SPARE_ON && !loop->closed && loop->refs > 1 &&
        spare_push(&loop->futs_spare, f, FUTURES_SPARE_MAX)) {
        loop->refs--;
        return;
    }
    free(f);
    future_loop_release(loop);
}

void futures_spare_free(petal_loop_t *loop)
{
    spare_free_all(&loop->futs_spare);
}

int petal_future_new(petal_loop_t *loop, petal_future_t **out)
{
    if (!out) return PETAL_EINVAL;
    *out = NULL;
    int rc = loop_check(loop);
    if (rc) return rc;
    return (*out = future_alloc(loop, 1)) ? 0 : PETAL_ENOMEM;
}

petal_future_t *petal_future_retain(petal_future_t *f)
{
    if (f) f->refs++;
    return f;
}

void petal_future_release(petal_future_t *f)
{
    if (f) future_unref(f);
}


petal_loop_t *petal_future_loop(const petal_future_t *f)
{
    return f ? f->loop : NULL;
}

static int schedule_cb(petal_future_t *f, petal_future_cb cb, void *arg)
{
    petal_handle_t h = schedule(f->loop, SLOT_FUTURE, (void *)cb, arg);
    if (h < 0) return (int)h;
    f->loop->slots[HANDLE_INDEX(h)].obj = petal_future_retain(f);
    return 0;
}

/* Moves the future to its final state and schedules its callbacks in
 * registration order (future_queue_callbacks). */
static int finish(petal_future_t *f, enum fut_state state, int err, void *value, petal_dtor dtor)
{
    if (!f) return PETAL_EINVAL;
    if (f->state != FUT_PENDING) return PETAL_EINVALSTATE;
    int rc = loop_check(f->loop);
    if (rc) return rc;
    void (*hook)(petal_future_t *, void *) = f->on_cancel;
    void *hook_arg = f->value;    /* the hook's argument while pending */
    future_settle(f, state, err, value, dtor);
    if (hook && state == FUT_CANCELLED) hook(f, hook_arg);
    if (f->ncbs) future_queue_callbacks(f);
    return 0;
}

void future_queue_failed(petal_future_t *f)
{
    f->ncbs = 0;
    petal_core_report(f->loop, PETAL_ENOMEM, -1, "future done-callbacks dropped: out of memory");
}


void future_drop_callbacks(petal_future_t *f)
{
    f->ncbs = 0;
    petal_future_release(f);
}

int petal_future_set_result(petal_future_t *f, void *value, petal_dtor dtor)
{
    return finish(f, FUT_DONE, 0, value, dtor);
}

int petal_future_set_error(petal_future_t *f, int err)
{
    if (err >= 0) return PETAL_EINVAL;
    return finish(f, FUT_DONE, err, NULL, NULL);
}

int petal_future_cancel(petal_future_t *f)
{
    return finish(f, FUT_CANCELLED, PETAL_ECANCELED, NULL, NULL);
}

bool petal_future_done(const petal_future_t *f)
{
    return f && f->state != FUT_PENDING;
}

bool petal_future_cancelled(const petal_future_t *f)
{
    return f && f->state == FUT_CANCELLED;
}

int petal_future_result(const petal_future_t *f, void **value)
{
    if (!f) return PETAL_EINVAL;
    if (f->state == FUT_PENDING) return PETAL_EINVALSTATE;
    if (value) *value = f->err ? NULL : f->value;
    return f->err;
}

int petal_future_add_done_callback(petal_future_t *f, petal_future_cb cb, void *arg)
{
    if (!f || !cb) return PETAL_EINVAL;
    int rc = loop_check(f->loop);
    if (rc) return rc;
    if (f->state != FUT_PENDING) return schedule_cb(f, cb, arg);
    if (f->ncbs == 0) {    /* the usual case */
        f->first = (struct done_cb){ cb, arg };
        f->ncbs = 1;
        return 0;
    }
    /* A second one or more: the array in the second line. */
    if (!f->heap) {
        f->more = NULL;
        f->more_cap = 0;
        f->heap = true;
    }
    if (f->ncbs - 1 == f->more_cap) {
        uint32_t cap = f->more_cap ? f->more_cap * 2 : 2;
        struct done_cb *c = realloc(f->more, cap * sizeof *c);
        if (!c) return PETAL_ENOMEM;
        f->more = c;
        f->more_cap = cap;
    }
    f->more[f->ncbs++ - 1] = (struct done_cb){ cb, arg };
    return 0;
}

int petal_future_remove_done_callback(petal_future_t *f, petal_future_cb cb, void *arg)
{
    if (!f || !cb) return PETAL_EINVAL;
    if (f->state != FUT_PENDING) return PETAL_ENOENT;    /* already scheduled: asyncio's too */
    uint32_t kept = 0;
    for (uint32_t i = 0; i < f->ncbs; i++) {
        struct done_cb c = *cb_at(f, i);
        if (c.cb != cb || c.arg != arg) *cb_at(f, kept++) = c;
    }
    int rc = kept == f->ncbs ? PETAL_ENOENT : 0;
    f->ncbs = kept;
    return rc;
}
