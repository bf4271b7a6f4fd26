/* Per-loop state of libraries built on petal (petal_loop_set_local). */
#include <stdlib.h>
#include <string.h>

#include "loop_internal.h"

struct loop_local {
    const void *key;
    void *value;
    void (*dtor)(void *value);
};

void *petal_loop_get_local(const petal_loop_t *loop, const void *key)
{
    if (!loop || !key) return NULL;
    for (size_t i = 0; i < loop->nlocals; i++)
        if (loop->locals[i].key == key) return loop->locals[i].value;
    return NULL;
}

int petal_loop_set_local(petal_loop_t *loop, const void *key, void *value, void (*dtor)(void *value))
{
    if (!key) return PETAL_EINVAL;
    int rc = loop_check(loop);
    if (rc) return rc;
    for (size_t i = 0; i < loop->nlocals; i++) {
        if (loop->locals[i].key != key) continue;
        if (value) return PETAL_EEXIST;
        loop->nlocals--;
        memmove(&loop->locals[i], &loop->locals[i + 1], (loop->nlocals - i) * sizeof loop->locals[i]);
        return 0;
    }
    if (!value) return PETAL_ENOENT;
    if (loop->nlocals == loop->locals_cap) {
        size_t cap = loop->locals_cap ? loop->locals_cap * 2 : 4;
        struct loop_local *l = realloc(loop->locals, cap * sizeof *l);
        if (!l) return PETAL_ENOMEM;
        loop->locals = l;
        loop->locals_cap = cap;
    }
    loop->locals[loop->nlocals++] = (struct loop_local){ key, value, dtor };
    return 0;
}

/* Newest first: a library attached later may depend on an earlier one. A
 * dtor may detach or attach keys; each value still gets its dtor once. */
void locals_destroy(petal_loop_t *loop)
{
    while (loop->nlocals) {
        struct loop_local l = loop->locals[--loop->nlocals];
        if (l.dtor) l.dtor(l.value);
    }
    free(loop->locals);
    loop->locals = NULL;
    loop->locals_cap = 0;
}
