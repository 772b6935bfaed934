/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_http_resp.c: the helpers that fill an ihd_http_resp_t, shared by the
 * HTTP glue (ihd_http.c) and the route handlers (ihd_api.c): a text body,
 * a JSON error {"error":code,"message":msg}, a JSON document, an embedded
 * web file. No lws here: the glue writes what the handlers filled in.
 */
#include "ihd.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "signal/sig_assets.h"

void ihd_http_resp_text(ihd_http_resp_t *r, unsigned status, const char *ctype, const char *text)
{
    size_t n = strlen(text);
    r->status = status;
    r->ctype = ctype;
    r->body = cmn_malloc(n + 1);
    memcpy(r->body, text, n + 1);
    r->len = n;
}

void ihd_http_resp_error(ihd_http_resp_t *r, unsigned status, const char *code, const char *msg)
{
    /* Codes and messages are static text of ours: no JSON escaping needed
     * beyond refusing quotes and backslashes, which they never contain. */
    char buf[512];
    snprintf(buf, sizeof(buf), "{\"error\":\"%s\",\"message\":\"%s\"}\n", code, msg);
    ihd_http_resp_text(r, status, "application/json", buf);
}

void ihd_http_resp_json(ihd_http_resp_t *r, unsigned status, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!text) {
        ihd_http_resp_error(r, 500, "internal", "cannot encode the answer");
        return;
    }
    size_t n = strlen(text);
    r->status = status;
    r->ctype = "application/json";
    r->body = cmn_malloc(n + 2);
    memcpy(r->body, text, n);
    r->body[n] = '\n';
    r->body[n + 1] = '\0';
    r->len = n + 1;
    free(text);
}

void ihd_http_resp_asset(ihd_http_resp_t *r, const sig_asset_t *a)
{
    r->status = 200;
    r->ctype = a->ctype;
    r->body = cmn_malloc(a->len + 1);
    memcpy(r->body, a->data, a->len);
    r->len = a->len;
}
