/* Messages for the codes the greenlet calls return. */
#include <petal/greenlet.h>
#include <string.h>

const char *petal_greenlet_strerror(int err)
{
    switch (err) {
    case 0: return "success";
    case PETAL_EKILLED: return "greenlet killed";
    case PETAL_EDEAD: return "greenlet is dead";
    case PETAL_EWRONGTHREAD: return "greenlet belongs to another thread";
    case PETAL_ECYCLE: return "cyclic parent chain";
    }
    if (err < 0 && err > -4096)
        return strerror(-err);
    return "unknown error";
}
