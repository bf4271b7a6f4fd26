/* A green echo server (one greenlet per connection) and its checking client,
 * on petal's hub (petal/green.h). Used by green_echo.c and tests/green_echo. */
#ifndef GREEN_ECHO_H
#define GREEN_ECHO_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "petal/green.h"

typedef struct green_echo_server green_echo_server;

/* Listens on 127.0.0.1:port (0: the kernel picks) and spawns the acceptor
 * greenlet on hub; each accepted connection gets its own greenlet that
 * echoes until end of stream. opts (may be NULL) apply to every greenlet of
 * the server. 0, PETAL_EINVAL, or the failing call's code (-EADDRINUSE...). */
int green_echo_server_start(petal_hub_t *hub, uint16_t port, const petal_green_opts *opts,
                            green_echo_server **out);
/* The address it listens on (127.0.0.1 and the bound port). */
struct sockaddr_in green_echo_server_addr(const green_echo_server *s);
/* Connections accepted so far, and connections open now. */
uint64_t green_echo_server_accepted(const green_echo_server *s);
size_t green_echo_server_open(const green_echo_server *s);
/* Bytes echoed so far. */
uint64_t green_echo_server_bytes(const green_echo_server *s);
/* Stops accepting, kills every connection greenlet (its fd is announced
 * closing and closed), closes the listening socket and frees the server.
 * Not from one of the server's own greenlets (PETAL_EBUSY). */
int green_echo_server_stop(green_echo_server *s);

/* One client connection, blocking style (a spawned greenlet or main): sends
 * len bytes of a pattern made from seed in chunks of at most chunk bytes,
 * reads each chunk's echo back before sending the next and checks every
 * byte. 0; -EPROTO if a byte differs or the stream ends early; -EINVAL for
 * bad arguments; else the failing call's code (-ECONNREFUSED,
 * PETAL_ETIMEDOUT, PETAL_EKILLED...). timeout_s bounds each call. */
int green_echo_client(const struct sockaddr_in *addr, size_t len, size_t chunk, uint32_t seed, double timeout_s);

/* Byte i of the stream of seed: what green_echo_client sends. */
uint8_t green_echo_pattern(uint32_t seed, uint64_t i);

#endif
