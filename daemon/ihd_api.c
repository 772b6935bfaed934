/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_api.c: the usage and admin JSON API under /api/. Runs on the HTTP
 * thread and never blocks a relay worker.
 */
#include "ihd.h"

int ihd_api_handle(ihd_server_t *srv, const ihd_http_req_t *req, ihd_http_resp_t *resp)
{
    (void)srv;
    (void)resp;
    if (strncmp(req->path, "/api/", 5) != 0)
        return CMN_ENOENT;
    ihd_http_resp_error(resp, 404, "not-found", "no such API endpoint");
    return 0;
}
