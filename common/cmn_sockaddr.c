/* icehub - SPDX-License-Identifier: MIT
 *
 * cmn_sockaddr.c: cmn_addr_t values to and from struct sockaddr, for the
 * socket calls of the two glue folders, daemon/ and ice/'s network files.
 * The pure modules only ever see cmn_addr_t and never call these.
 */
#include "common/cmn_sockaddr.h"

#include <netinet/in.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/socket.h>

unsigned cmn_addr_to_sockaddr(const cmn_addr_t *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (a->family == CMN_AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(a->port);
        memcpy(&sin->sin_addr, a->ip, 4);
        return sizeof(*sin);
    }
    if (a->family == CMN_AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(a->port);
        memcpy(&sin6->sin6_addr, a->ip, 16);
        return sizeof(*sin6);
    }
    return 0;
}

int cmn_addr_from_sockaddr(cmn_addr_t *a, const struct sockaddr *sa)
{
    memset(a, 0, sizeof(*a));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        a->family = CMN_AF_INET;
        a->port = ntohs(sin->sin_port);
        memcpy(a->ip, &sin->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        a->family = CMN_AF_INET6;
        a->port = ntohs(sin6->sin6_port);
        memcpy(a->ip, &sin6->sin6_addr, 16);
        return 0;
    }
    return CMN_EINVAL;
}
