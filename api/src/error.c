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
    return "unknown petal error";
}
