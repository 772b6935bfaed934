/* icehub - SPDX-License-Identifier: MIT
 *
 * acct_revoke.c: the revoked users, each with when it was revoked and
 * when that ends, kept in a small JSON file so that a revocation survives a
 * restart (and a live upgrade, which reads the same file):
 *
 *   {"version":1,"revoked":[{"user":"alice","since":"2026-12-01T10:00:00.000Z",
 *                            "until":"2026-12-31T10:00:00.000Z"}]}
 *
 * A name that is not UTF-8 is kept as "user_hex" instead of "user", so it
 * comes back byte for byte. Every change rewrites the file: a temporary
 * file beside it is written, synced and renamed over it, then the directory
 * is synced, so a reader (or a crash) sees the old list or the new one,
 * never half of either. Entries end at their "until": ..._expire drops
 * them, so the list cannot grow forever; there are at most
 * ACCT_REVOKES_MAX.
 *
 * This is the one interface revocations go through (open, add, remove,
 * expire, list). It knows nothing of what a revocation does: the caller
 * blocks and lifts users in the relay. Thread-safe (one mutex); the file
 * is written under it, which is fine at the rate operators revoke.
 */
#include "acct_int.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cmn_log.h"

#define REVOKES_VERSION 1
#define REVOKES_FILE_MAX (64u << 20) /* a file larger than this is not ours */

struct acct_revokes_s {
    pthread_mutex_t mu;         /* guards everything below */
    char *path;                 /* owned; NULL: memory only */
    acct_revoked_t *v;          /* owned, names too; unsorted */
    size_t n, cap;
    uint64_t save_errors;
};

acct_revokes_t *acct_revokes_new(void)
{
    acct_revokes_t *r = cmn_calloc(1, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

static void clear(acct_revokes_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        cmn_free(r->v[i].user);
    r->n = 0;
}

void acct_revokes_free(acct_revokes_t *r)
{
    if (!r)
        return;
    clear(r);
    cmn_free(r->v);
    cmn_free(r->path);
    pthread_mutex_destroy(&r->mu);
    cmn_free(r);
}

static ssize_t find(const acct_revokes_t *r, const char *user)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->v[i].user, user))
            return (ssize_t)i;
    return -1;
}

static void append(acct_revokes_t *r, const char *user, double since, double until)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->v = cmn_realloc(r->v, r->cap * sizeof(*r->v));
    }
    r->v[r->n++] = (acct_revoked_t){.user = cmn_strdup(user), .since = since, .until = until};
}

/* ---- The file ------------------------------------------------------------ */

static json_t *entry_json(const acct_revoked_t *e)
{
    char t0[ACCT_TIME_STRLEN], t1[ACCT_TIME_STRLEN];
    json_t *o = json_object();
    json_t *name = json_string(e->user);
    if (name) {
        json_object_set_new(o, "user", name);
    } else {
        static const char hex[] = "0123456789abcdef";
        size_t n = strlen(e->user);
        char *h = cmn_malloc(2 * n + 1);
        for (size_t i = 0; i < n; i++) {
            h[2 * i] = hex[(unsigned char)e->user[i] >> 4];
            h[2 * i + 1] = hex[(unsigned char)e->user[i] & 15];
        }
        h[2 * n] = '\0';
        json_object_set_new(o, "user_hex", json_string(h));
        cmn_free(h);
    }
    json_object_set_new(o, "since", json_string(acct_time_format(e->since, t0, sizeof(t0))));
    json_object_set_new(o, "until", json_string(acct_time_format(e->until, t1, sizeof(t1))));
    return o;
}

static int write_file(const char *path, const char *text, size_t len)
{
    size_t cap = strlen(path) + 8;
    char *tmp = cmn_malloc(cap);
    snprintf(tmp, cap, "%s.tmp", path);
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = w < 0 ? -errno : -ENOSPC;
            break;
        }
        off += (size_t)w;
    }
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0)
        (void)unlink(tmp);
    else
        acct__sync_dir(path);
out:
    cmn_free(tmp);
    return rc;
}

/* Write the list to r->path (under r->mu). Returns 0 or CMN_EIO. */
static int save(acct_revokes_t *r)
{
    if (!r->path)
        return 0;
    json_t *arr = json_array();
    for (size_t i = 0; i < r->n; i++)
        json_array_append_new(arr, entry_json(&r->v[i]));
    json_t *o = json_object();
    json_object_set_new(o, "version", json_integer(REVOKES_VERSION));
    json_object_set_new(o, "revoked", arr);
    char *text = json_dumps(o, JSON_PRESERVE_ORDER | JSON_INDENT(1));
    json_decref(o);
    int rc = text ? write_file(r->path, text, strlen(text)) : -ENOMEM;
    free(text); /* jansson's allocation */
    if (rc < 0) {
        r->save_errors++;
        cmn_err("admin", "cannot write the revocations to %s: %s (they hold in memory)",
                r->path, strerror(-rc));
        return CMN_EIO;
    }
    return 0;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The name of one entry: "user", or "user_hex" decoded. Owned result. */
static char *entry_name(json_t *e)
{
    const char *u = json_string_value(json_object_get(e, "user"));
    if (u)
        return u[0] ? cmn_strdup(u) : NULL;
    const char *h = json_string_value(json_object_get(e, "user_hex"));
    size_t n = h ? strlen(h) : 0;
    if (!n || n % 2)
        return NULL;
    char *out = cmn_malloc(n / 2 + 1);
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(h[2 * i]), lo = hexval(h[2 * i + 1]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            cmn_free(out);
            return NULL;
        }
        out[i] = (char)(hi * 16 + lo);
    }
    out[n / 2] = '\0';
    return out;
}

/* Parse <j> into <r> (empty before), dropping entries past <now>. */
static int load_json(acct_revokes_t *r, json_t *j, double now, char *err, size_t errlen)
{
    json_t *arr = json_object_get(j, "revoked");
    if (!json_is_object(j) || json_integer_value(json_object_get(j, "version")) !=
                                  REVOKES_VERSION || !json_is_array(arr)) {
        snprintf(err, errlen, "expected {\"version\":%d,\"revoked\":[...]}", REVOKES_VERSION);
        return CMN_EINVAL;
    }
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        char *name = entry_name(e);
        double since, until;
        if (!name || acct_time_parse(json_string_value(json_object_get(e, "since")) ?: "",
                                     &since) < 0 ||
            acct_time_parse(json_string_value(json_object_get(e, "until")) ?: "", &until) < 0) {
            cmn_free(name);
            snprintf(err, errlen, "entry %zu: expected user (or user_hex), since and until", i);
            return CMN_EINVAL;
        }
        if (until > now && find(r, name) < 0 && r->n < ACCT_REVOKES_MAX)
            append(r, name, since, until);
        cmn_free(name);
    }
    return 0;
}

int acct_revokes_open(acct_revokes_t *r, const char *path, double now, char *err, size_t errlen)
{
    pthread_mutex_lock(&r->mu);
    clear(r);
    cmn_free(r->path);
    r->path = path && path[0] ? cmn_strdup(path) : NULL;
    int rc = 0;
    FILE *f = r->path ? fopen(r->path, "rb") : NULL;
    if (!f) {
        if (r->path && errno != ENOENT) {
            snprintf(err, errlen, "%s: %s", r->path, strerror(errno));
            rc = CMN_EIO;
        }
        pthread_mutex_unlock(&r->mu);
        return rc;
    }
    struct stat sb;
    json_error_t je;
    json_t *j = NULL;
    if (fstat(fileno(f), &sb) == 0 && sb.st_size > REVOKES_FILE_MAX) {
        snprintf(err, errlen, "%s: larger than %u bytes", r->path, REVOKES_FILE_MAX);
        rc = CMN_EINVAL;
    } else if (!(j = json_loadf(f, JSON_REJECT_DUPLICATES, &je))) {
        snprintf(err, errlen, "%s:%d: %s", r->path, je.line, je.text);
        rc = CMN_EINVAL;
    } else {
        char why[256];
        if ((rc = load_json(r, j, now, why, sizeof(why))) < 0)
            snprintf(err, errlen, "%s: %s", r->path, why);
        json_decref(j);
    }
    fclose(f);
    if (rc < 0)
        clear(r);
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int acct_revokes_set_path(acct_revokes_t *r, const char *path)
{
    pthread_mutex_lock(&r->mu);
    const char *cur = r->path ? r->path : "";
    int rc = 0;
    if (strcmp(cur, path ? path : "") != 0) {
        cmn_free(r->path);
        r->path = path && path[0] ? cmn_strdup(path) : NULL;
        rc = save(r);
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* ---- Changes ------------------------------------------------------------- */

int acct_revokes_add(acct_revokes_t *r, const char *user, double now, double ttl, bool *fresh,
                     double *until)
{
    pthread_mutex_lock(&r->mu);
    ssize_t i = find(r, user);
    *fresh = i < 0;
    int rc = 0;
    if (i < 0 && r->n >= ACCT_REVOKES_MAX) {
        rc = CMN_ELIMIT;
    } else {
        if (i < 0)
            append(r, user, now, now + ttl);
        else
            r->v[i].until = now + ttl; /* revoking again extends it */
        *until = now + ttl;
        rc = save(r);
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int acct_revokes_remove(acct_revokes_t *r, const char *user)
{
    pthread_mutex_lock(&r->mu);
    ssize_t i = find(r, user);
    int rc = CMN_ENOENT;
    if (i >= 0) {
        cmn_free(r->v[i].user);
        r->v[i] = r->v[--r->n];
        rc = save(r);
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

size_t acct_revokes_expire(acct_revokes_t *r, double now, void (*fn)(void *ctx, const char *user),
                           void *ctx)
{
    pthread_mutex_lock(&r->mu);
    size_t gone = 0;
    for (size_t i = 0; i < r->n;) {
        if (r->v[i].until > now) {
            i++;
            continue;
        }
        if (fn)
            fn(ctx, r->v[i].user);
        cmn_free(r->v[i].user);
        r->v[i] = r->v[--r->n];
        gone++;
    }
    if (gone)
        (void)save(r);
    pthread_mutex_unlock(&r->mu);
    return gone;
}

/* ---- Reading -------------------------------------------------------------- */

static int by_user(const void *x, const void *y)
{
    return strcmp(((const acct_revoked_t *)x)->user, ((const acct_revoked_t *)y)->user);
}

acct_revoked_t *acct_revokes_list(acct_revokes_t *r, size_t *n)
{
    pthread_mutex_lock(&r->mu);
    acct_revoked_t *v = cmn_calloc(r->n + 1, sizeof(*v));
    *n = r->n;
    for (size_t i = 0; i < r->n; i++)
        v[i] = (acct_revoked_t){.user = cmn_strdup(r->v[i].user), .since = r->v[i].since,
                                .until = r->v[i].until};
    pthread_mutex_unlock(&r->mu);
    if (*n)
        qsort(v, *n, sizeof(*v), by_user);
    return v;
}

void acct_revokes_list_free(acct_revoked_t *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        cmn_free(v[i].user);
    cmn_free(v);
}

bool acct_revokes_has(acct_revokes_t *r, const char *user)
{
    pthread_mutex_lock(&r->mu);
    bool has = find(r, user) >= 0;
    pthread_mutex_unlock(&r->mu);
    return has;
}

uint64_t acct_revokes_save_errors(acct_revokes_t *r)
{
    pthread_mutex_lock(&r->mu);
    uint64_t e = r->save_errors;
    pthread_mutex_unlock(&r->mu);
    return e;
}
