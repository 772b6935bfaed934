/* icehub - SPDX-License-Identifier: MIT
 *
 * acct_ledger.c: the writer of the append-only JSON-lines usage ledger.
 * Callers format records themselves (acct_rec_encode) and queue whole lines
 * here under a mutex, never on the packet path. One writer thread appends
 * each batch with a single write() of whole lines, and calls fdatasync()
 * at least once a second while anything is unsynced.
 *
 * What survives what (docs/ledger.md):
 *  - kill -9: everything already handed to write() is in the kernel and
 *    survives; the queue (at most about 100 ms of records) is lost.
 *  - power loss: up to about one second of records, and the last line may
 *    be torn. At open, a last line without its '\n' is cut off, so an
 *    append never glues a new record to a torn one.
 *  - a failing disk (full, read-only, I/O error): a short write is cut
 *    back with ftruncate, the batch is kept (the queue is bounded by
 *    ACCT_LEDGER_QUEUE_MAX, beyond which records are dropped and counted)
 *    and retried every second; errors are logged and counted.
 * Rotation: by size (ledger.max_bytes) and at UTC midnight
 * (ledger.rotate_daily), by renaming to PATH.YYYYmmddTHHMMSS; SIGHUP
 * reopens PATH (logrotate moved it).
 */
#include "acct_int.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cmn_log.h"

#define LEDGER_GATHER_NS 50000000L  /* wait this long after a wakeup to batch more */
#define LEDGER_RETRY_S 1.0          /* pause after a failed write */
#define LEDGER_CLOSE_TRIES 5        /* failed flush attempts at close before giving up */

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void count_error(acct_ledger_t *l, const char *what, int e)
{
    double now = wall_now();
    pthread_mutex_lock(&l->mu);
    l->st.write_errors++;
    l->st.failing = true;
    bool log = now - l->last_err_log >= 60.0;
    if (log)
        l->last_err_log = now;
    pthread_mutex_unlock(&l->mu);
    /* One line a minute is enough to notice; the counter has the rest. */
    if (log)
        cmn_err("ledger", "%s %s: %s (records are kept in memory and retried)", what, l->path,
                strerror(e));
}

/* Cut a torn last line (no '\n') off the file, so appends start clean. */
static void cut_torn_tail(acct_ledger_t *l)
{
    struct stat sb;
    if (fstat(l->fd, &sb) < 0 || sb.st_size == 0)
        return;
    char buf[4096];
    off_t end = sb.st_size, pos = end;
    while (pos > 0) {
        size_t n = (size_t)CMN_MIN((off_t)sizeof(buf), pos);
        pos -= (off_t)n;
        if (pread(l->fd, buf, n, pos) != (ssize_t)n)
            return;
        for (size_t i = n; i-- > 0;) {
            if (buf[i] == '\n') {
                off_t keep = pos + (off_t)i + 1;
                if (keep < end && ftruncate(l->fd, keep) == 0)
                    cmn_warn("ledger", "%s: cut a torn last line of %lld bytes (a write "
                                       "interrupted by a crash)",
                             l->path, (long long)(end - keep));
                return;
            }
        }
    }
    if (ftruncate(l->fd, 0) == 0)
        cmn_warn("ledger", "%s: cut a torn line of %lld bytes", l->path, (long long)end);
}

static int open_file(acct_ledger_t *l)
{
    int fd = open(l->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640); /* read: cut_torn_tail */
    if (fd < 0)
        return -errno;
    l->fd = fd;
    l->torn_tail = false;
    cut_torn_tail(l);
    struct stat sb;
    l->size = fstat(fd, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    /* A file started on an earlier day rotates at the next write. */
    l->day = acct_time_day(l->size ? (double)sb.st_mtime : wall_now());
    return 0;
}

void acct__sync_dir(const char *path)
{
    char *c = cmn_strdup(path);
    int fd = open(dirname(c), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    cmn_free(c);
}

/* Rename the current file to PATH.YYYYmmddTHHMMSS[-N] and start a new one.
 * Returns 0, or -1 when the rename failed (the old file stays in use). */
static int rotate(acct_ledger_t *l)
{
    char stamp[32];
    acct_time_stamp(wall_now(), stamp, sizeof(stamp));
    size_t cap = strlen(l->path) + 48;
    char *name = cmn_malloc(cap);
    struct stat sb;
    snprintf(name, cap, "%s.%s", l->path, stamp);
    for (int i = 1; lstat(name, &sb) == 0 && i < 1000; i++)
        snprintf(name, cap, "%s.%s-%d", l->path, stamp, i);
    (void)fdatasync(l->fd);
    if (rename(l->path, name) < 0) {
        count_error(l, "cannot rotate", errno);
        cmn_free(name);
        return -1;
    }
    close(l->fd);
    l->fd = -1;
    int rc = open_file(l);
    if (rc < 0)
        count_error(l, "cannot open", -rc);
    acct__sync_dir(l->path);
    pthread_mutex_lock(&l->mu);
    l->st.rotations++;
    pthread_mutex_unlock(&l->mu);
    cmn_info("ledger", "rotated to %s", name);
    cmn_free(name);
    return 0;
}

/* Write buf[0..n) with as few write() calls as the kernel allows. On
 * failure the file is cut back to where it was. Returns 0 or -errno. */
static int write_all(acct_ledger_t *l, const char *buf, size_t n)
{
    if (l->torn_tail) {
        /* An earlier failure left a fragment we could not truncate: end it
         * so this batch starts on a line of its own. */
        if (write(l->fd, "\n", 1) != 1)
            return -errno;
        l->size++;
        l->torn_tail = false;
    }
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(l->fd, buf + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            if (done && ftruncate(l->fd, (off_t)l->size) < 0)
                l->torn_tail = true;
            return -e;
        }
        done += (size_t)w;
    }
    l->size += n;
    return 0;
}

/* Bytes of the whole lines at the start of <buf> that fit in <room>; at
 * least the first line, so the result exceeds <room> when even that does
 * not fit. */
static size_t fit_lines(const char *buf, size_t n, uint64_t room)
{
    size_t fit = 0;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != '\n')
            continue;
        if (fit && i + 1 > room)
            break;
        fit = i + 1;
    }
    return fit ? fit : n;
}

static size_t count_lines(const char *buf, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += buf[i] == '\n';
    return k;
}

/* Write a batch, rotating as the settings ask. Returns the bytes written
 * (all of <n>, or less when a write failed). */
static size_t write_batch(acct_ledger_t *l, const char *buf, size_t n, uint64_t max_bytes,
                          bool daily)
{
    size_t off = 0;
    while (off < n) {
        if (l->fd < 0) {
            int rc = open_file(l);
            if (rc < 0) {
                count_error(l, "cannot open", -rc);
                return off;
            }
        }
        if (daily && l->size && acct_time_day(wall_now()) != l->day)
            (void)rotate(l); /* on failure: keep writing to the old file */
        if (l->fd < 0)
            continue;
        size_t chunk = n - off;
        if (max_bytes > 0) {
            uint64_t room = l->size < (uint64_t)max_bytes ? (uint64_t)max_bytes - l->size : 0;
            chunk = fit_lines(buf + off, chunk, room);
            /* The next line does not fit: rotate and try again; a file
             * holds more than max_bytes only when one line alone is
             * larger, or when the rename failed. */
            if (chunk > room && l->size) {
                if (rotate(l) == 0)
                    continue;
                chunk = n - off;
            }
        }
        int rc = write_all(l, buf + off, chunk);
        if (rc < 0) {
            count_error(l, "cannot write", -rc);
            return off;
        }
        pthread_mutex_lock(&l->mu);
        l->st.records += count_lines(buf + off, chunk);
        l->st.bytes += chunk;
        pthread_mutex_unlock(&l->mu);
        off += chunk;
    }
    return off;
}

/* Returns false when the sync failed. */
static bool do_sync(acct_ledger_t *l)
{
    if (l->fd < 0)
        return false;
    if (fdatasync(l->fd) < 0) {
        count_error(l, "cannot sync", errno);
        return false;
    }
    pthread_mutex_lock(&l->mu);
    l->st.last_flush = wall_now();
    pthread_mutex_unlock(&l->mu);
    return true;
}

static void *writer_main(void *arg)
{
    acct_ledger_t *l = arg;
    char *batch = NULL;         /* writer-owned: taken from the queue, not yet written */
    size_t blen = 0, bcap = 0;
    bool dirty = false;
    double last_sync = 0, retry_at = 0;
    int close_tries = 0;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        double now = wall_now();
        bool can_write = now >= retry_at;
        bool sync_due = dirty && now - last_sync >= 1.0;
        if (!l->stop && !l->reopen && !sync_due && !((l->qlen || blen) && can_write)) {
            double wait = 1.0;
            if (dirty)
                wait = CMN_MAX(0.01, 1.0 - (now - last_sync));
            if (l->qlen || blen)
                wait = CMN_MIN(wait, CMN_MAX(0.01, retry_at - now));
            struct timespec ts;
            double t = now + wait;
            ts.tv_sec = (time_t)t;
            ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
            pthread_cond_timedwait(&l->cv, &l->mu, &ts);
            continue;
        }
        if (!l->stop && !l->flush && l->qlen && !blen) {
            /* Let a burst of records from several workers gather. */
            pthread_mutex_unlock(&l->mu);
            struct timespec nap = {0, LEDGER_GATHER_NS};
            nanosleep(&nap, NULL);
            pthread_mutex_lock(&l->mu);
        }
        bool reopen = l->reopen, stop = l->stop;
        l->reopen = false;
        /* Take the queue behind whatever is still waiting to be retried. */
        if (l->qlen) {
            if (blen + l->qlen > bcap) {
                bcap = CMN_MAX(blen + l->qlen, 2 * bcap);
                batch = cmn_realloc(batch, bcap);
            }
            memcpy(batch + blen, l->q, l->qlen);
            blen += l->qlen;
            l->qlen = 0;
        }
        l->pending = blen;
        uint64_t max_bytes = l->max_bytes;
        bool daily = l->rotate_daily;
        pthread_mutex_unlock(&l->mu);

        if (reopen && l->fd >= 0) {
            (void)fdatasync(l->fd);
            close(l->fd);
            l->fd = -1;
            int rc = open_file(l);
            if (rc < 0)
                count_error(l, "cannot reopen", -rc);
            else
                cmn_info("ledger", "reopened %s", l->path);
        }
        if (blen && (stop || wall_now() >= retry_at)) {
            size_t w = write_batch(l, batch, blen, max_bytes, daily);
            if (w)
                dirty = true;
            memmove(batch, batch + w, blen - w);
            blen -= w;
            if (blen)
                retry_at = wall_now() + LEDGER_RETRY_S;
        }
        bool sync_failed = false;
        if (dirty && (stop || wall_now() - last_sync >= 1.0)) {
            sync_failed = !do_sync(l);
            dirty = false;
            last_sync = wall_now();
        }
        pthread_mutex_lock(&l->mu);
        l->pending = blen;
        /* Everything taken is written (and synced, if a sync was due): the
         * disk works again. */
        if (!blen && !sync_failed && l->fd >= 0)
            l->st.failing = false;
        if (stop && !l->qlen) {
            if (!blen)
                break;
            if (++close_tries >= LEDGER_CLOSE_TRIES) {
                cmn_err("ledger", "giving up: %zu bytes of records could not be written to %s",
                        blen, l->path);
                l->st.dropped += count_lines(batch, blen);
                break;
            }
            pthread_mutex_unlock(&l->mu);
            sleep(1);
            pthread_mutex_lock(&l->mu);
        }
    }
    l->pending = 0;
    pthread_mutex_unlock(&l->mu);
    cmn_free(batch);
    return NULL;
}

int acct_ledger_flush(acct_ledger_t *l, double timeout)
{
    if (!l)
        return 0;
    double until = wall_now() + timeout;
    pthread_mutex_lock(&l->mu);
    l->flush++;
    pthread_cond_signal(&l->cv);
    while ((l->qlen || l->pending) && wall_now() < until) {
        pthread_mutex_unlock(&l->mu);
        struct timespec nap = {0, 1000000L};
        nanosleep(&nap, NULL);
        pthread_mutex_lock(&l->mu);
    }
    bool done = !l->qlen && !l->pending;
    l->flush--;
    pthread_mutex_unlock(&l->mu);
    return done ? 0 : CMN_EAGAIN;
}

/* Rotation renames the file and creates a new one: that needs a writable
 * directory, which is better found at start than at midnight. */
static int check_dir(const char *path, uint64_t max_bytes, bool rotate_daily, char *err,
                     size_t errlen)
{
    char *c = cmn_strdup(path);
    const char *dir = dirname(c);
    int rc = 0;
    if ((max_bytes > 0 || rotate_daily) && access(dir, W_OK | X_OK) < 0) {
        snprintf(err, errlen, "ledger.path: rotation needs a writable directory, but %s: %s",
                 dir, strerror(errno));
        rc = CMN_EIO;
    }
    cmn_free(c);
    return rc;
}

int acct_ledger_check(const char *path, uint64_t max_bytes, bool rotate_daily, char *err,
                     size_t errlen)
{
    struct stat sb;
    char *c = cmn_strdup(path);
    const char *dir = dirname(c);
    int e = 0;
    if (stat(path, &sb) == 0)
        e = S_ISDIR(sb.st_mode) ? EISDIR : access(path, W_OK) < 0 ? errno : 0;
    else if (errno != ENOENT)
        e = errno;
    else if (access(dir, W_OK | X_OK) < 0)
        e = errno; /* the file would be created there */
    cmn_free(c);
    if (e) {
        snprintf(err, errlen, "ledger.path: cannot open \"%s\" for appending: %s", path,
                 strerror(e));
        return CMN_EIO;
    }
    return check_dir(path, max_bytes, rotate_daily, err, errlen);
}

int acct_ledger_open(const char *path, uint64_t max_bytes, bool rotate_daily, acct_ledger_t **out,
                    char *err, size_t errlen)
{
    acct_ledger_t *l = cmn_calloc(1, sizeof(*l));
    l->path = cmn_strdup(path);
    l->fd = -1;
    l->max_bytes = max_bytes;
    l->rotate_daily = rotate_daily;
    int rc = open_file(l);
    if (rc < 0) {
        snprintf(err, errlen, "ledger.path: cannot open \"%s\" for appending: %s", path,
                 strerror(-rc));
        goto fail;
    }
    if (check_dir(path, max_bytes, rotate_daily, err, errlen) < 0)
        goto fail;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL); /* CLOCK_REALTIME, as writer_main's deadlines */
    if (pthread_create(&l->thread, NULL, writer_main, l) != 0) {
        snprintf(err, errlen, "ledger: cannot start the writer thread");
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
        goto fail;
    }
    *out = l;
    return 0;
fail:
    if (l->fd >= 0)
        close(l->fd);
    cmn_free(l->path);
    cmn_free(l);
    return CMN_EIO;
}

void acct_ledger_append(acct_ledger_t *l, const char *lines, size_t len, unsigned nrec)
{
    if (!l || !len)
        return;
    pthread_mutex_lock(&l->mu);
    if (l->qlen + l->pending + len > ACCT_LEDGER_QUEUE_MAX) {
        l->st.dropped += nrec;
        pthread_mutex_unlock(&l->mu);
        return;
    }
    if (l->qlen + len > l->qcap) {
        size_t c = CMN_MAX(l->qlen + len, l->qcap ? 2 * l->qcap : 64 * 1024);
        l->q = cmn_realloc(l->q, c);
        l->qcap = c;
    }
    bool was_empty = !l->qlen;
    memcpy(l->q + l->qlen, lines, len);
    l->qlen += len;
    if (was_empty)
        pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

void acct_ledger_configure(acct_ledger_t *l, uint64_t max_bytes, bool rotate_daily)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->max_bytes = max_bytes;
    l->rotate_daily = rotate_daily;
    pthread_mutex_unlock(&l->mu);
}

void acct_ledger_reopen(acct_ledger_t *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->reopen = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

void acct_ledger_close(acct_ledger_t *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    if (l->fd >= 0) {
        (void)fdatasync(l->fd);
        close(l->fd);
    }
    cmn_info("ledger", "closed %s: %llu records written, %llu write errors, %llu dropped",
             l->path, (unsigned long long)l->st.records,
             (unsigned long long)l->st.write_errors, (unsigned long long)l->st.dropped);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    cmn_free(l->q);
    cmn_free(l->path);
    cmn_free(l);
}

void acct_ledger_stats(acct_ledger_t *l, acct_ledger_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    *out = l->st;
    out->queued = l->qlen + l->pending;
    pthread_mutex_unlock(&l->mu);
}
