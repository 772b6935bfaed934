/* icehub - SPDX-License-Identifier: MIT
 *
 * cmn_sockaddr.h: conversions between cmn_addr_t and struct sockaddr. Only glue
 * (daemon/, and the socket files of ice/) includes this; codecs and state
 * machines work on cmn_addr_t alone.
 */
#ifndef CMN_SOCKADDR_H
#define CMN_SOCKADDR_H

#include <sys/socket.h>

#include "common/cmn_addr.h"

/* Fill *ss from a. Returns the socklen to pass to the socket call, or 0 for an
 * address of no family (ss is then zeroed). */
unsigned cmn_addr_to_sockaddr(const cmn_addr_t *a, struct sockaddr_storage *ss);

/* Fill *a from an AF_INET or AF_INET6 sockaddr. Returns 0, or CMN_EINVAL for
 * any other family (a is then zeroed). */
int cmn_addr_from_sockaddr(cmn_addr_t *a, const struct sockaddr *sa);

#endif
