/* Private to the datagram package. */
#ifndef PETAL_DGRAM_INTERNAL_H
#define PETAL_DGRAM_INTERNAL_H

#include "petal/datagram.h"

/* Wraps fd (non-blocking, owned from now on) in a transport and schedules
 * connection_made. On error fd is left open for the caller. */
int dgram_transport_new(petal_loop_t *loop, int fd, const petal_datagram_protocol_t *proto,
                        petal_datagram_transport_t **out);

/* 0 if len fits an address of its family (and the storage), else PETAL_EINVAL. */
int dgram_check_addr(const struct sockaddr *addr, socklen_t len);

#endif
