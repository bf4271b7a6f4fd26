#include <netdb.h>
#include <string.h>

#include "petal/error.h"

const char *petal_strerror(int err)
{
    switch (err) {
    case 0: return "success";
    case PETAL_ECLOSED: return "loop is closed";
    case PETAL_EINVALSTATE: return "invalid state (future already done, or not done yet)";
    case PETAL_ESTOPPED: return "loop stopped before the future completed";
    case PETAL_EINTERNALFD: return "fd is used by the loop itself";
    case PETAL_EALREADY: return "already ran or was cancelled";
    default: break;
    }
    if (err < 0 && err > -4000) return strerror(-err);
    /* petal/resolve.h: PETAL_EAI_* = -4300 + EAI_* (glibc's EAI_* are negative) */
    if (err <= -4301 && err >= -4399) return gai_strerror(err + 4300);
    return "unknown petal error";
}
