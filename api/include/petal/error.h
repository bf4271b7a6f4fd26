/* petal error codes: every call that can fail returns 0 or one of these
 * negative values (libuv style). Most are negated errno values. */
#ifndef PETAL_ERROR_H
#define PETAL_ERROR_H

#include <errno.h>

#define PETAL_EINVAL     (-EINVAL)     /* bad argument: NULL, NaN, out of range */
#define PETAL_ENOMEM     (-ENOMEM)     /* allocation failed */
#define PETAL_EBADF      (-EBADF)      /* fd is negative or not open */
#define PETAL_EBUSY      (-EBUSY)      /* loop is running (close, nested run) or resource owned elsewhere */
#define PETAL_ECANCELED  (-ECANCELED)  /* operation or future cancelled; fd announced as closing */
#define PETAL_EALREADY   (-EALREADY)   /* cancelling a handle that already ran or was cancelled */
#define PETAL_ENOENT     (-ENOENT)     /* removing what was never added */
#define PETAL_EEXIST     (-EEXIST)     /* signal already owned by another loop */
#define PETAL_ETIMEDOUT  (-ETIMEDOUT)  /* deadline passed */
#define PETAL_ENOSYS     (-ENOSYS)     /* backend cannot do this here */
#define PETAL_EPERM      (-EPERM)      /* the kernel refuses to watch this fd (e.g. regular file) */

/* petal-specific codes, outside the errno range. */
#define PETAL_ECLOSED       (-4001)    /* the loop is closed */
#define PETAL_EINVALSTATE   (-4002)    /* future already done / not done yet */
#define PETAL_ESTOPPED      (-4003)    /* loop stopped before the awaited future completed */
#define PETAL_EINTERNALFD   (-4004)    /* fd is used by the loop itself */

/* Describes any code returned by petal (or any negated errno). Never NULL. */
const char *petal_strerror(int err);

#endif
