/* Making datagram endpoints: a new socket (bound and/or connected), or an
 * adopted one. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dgram_internal.h"

static int set_flag(int fd, int opt, bool on)
{
    int v = on;
    return on && setsockopt(fd, SOL_SOCKET, opt, &v, sizeof v) ? -errno : 0;
}

int petal_create_datagram_endpoint(petal_loop_t *loop, const petal_datagram_protocol_t *proto,
                                   const struct sockaddr *local, socklen_t local_len,
                                   const struct sockaddr *remote, socklen_t remote_len,
                                   const petal_datagram_options_t *opts, petal_datagram_transport_t **out)
{
    if (!out) return PETAL_EINVAL;
    *out = NULL;
    if (!loop || !proto) return PETAL_EINVAL;
    if (petal_loop_is_closed(loop)) return PETAL_ECLOSED;
    if ((local && dgram_check_addr(local, local_len)) || (remote && dgram_check_addr(remote, remote_len)))
        return PETAL_EINVAL;
    petal_datagram_options_t none = { 0 };
    if (!opts) opts = &none;
    int family = opts->family;
    if (!family) family = local ? local->sa_family : remote ? remote->sa_family : 0;
    if (!family || (local && local->sa_family != family) || (remote && remote->sa_family != family))
        return PETAL_EINVAL;

    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int rc = set_flag(fd, SO_REUSEPORT, opts->reuse_port);
    if (!rc) rc = set_flag(fd, SO_BROADCAST, opts->allow_broadcast);
    if (!rc && local && bind(fd, local, local_len)) rc = -errno;
    /* a datagram connect only records the peer: it never waits */
    if (!rc && remote && connect(fd, remote, remote_len)) rc = -errno;
    if (!rc) rc = dgram_transport_new(loop, fd, proto, out);
    if (rc) close(fd);
    return rc;
}

int petal_datagram_adopt(petal_loop_t *loop, int fd, const petal_datagram_protocol_t *proto,
                         petal_datagram_transport_t **out)
{
    if (!out) return PETAL_EINVAL;
    *out = NULL;
    if (!loop || !proto) return PETAL_EINVAL;
    if (petal_loop_is_closed(loop)) return PETAL_ECLOSED;
    int flags;
    if (fd < 0 || (flags = fcntl(fd, F_GETFL)) < 0) return PETAL_EBADF;
    int type;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) || type != SOCK_DGRAM) return PETAL_EINVAL;
    if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK)) return -errno;
    return dgram_transport_new(loop, fd, proto, out);
}
