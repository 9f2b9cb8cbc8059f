/*
 * Trackers (zmqpack/message.h): a count of the frames that still hold
 * borrowed memory, and a condition variable to wait for it to reach 0.
 * Frames made with ZPK_OWN_BORROW hold one count each message
 * (message_encode.c); whoever releases the last frame (the caller, the
 * receiver over inproc, one of libzmq's I/O threads) lets it go. No zmq.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "message_internal.h"

/* pending goes up without the lock (one atomic add per send) and down
 * without it while other sends are pending; it reaches 0 only under the
 * lock, with the broadcast, so a waiter that saw 0 under the lock can
 * destroy the tracker: its last releaser is done with it. */
struct zpk_tracker {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_size_t pending; /* frames libzmq still holds */
};

zpk_tracker_t *zpk_tracker_new(void)
{
    zpk_tracker_t *t = zpk__malloc(sizeof *t);
    if (t == NULL)
        return NULL;
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&t->pending, 0);
    return t;
}

void zpk__tracker_add(zpk_tracker_t *t)
{
    atomic_fetch_add(&t->pending, 1);
}

void zpk__tracker_release(zpk_tracker_t *t)
{
    size_t old = atomic_load(&t->pending);
    while (old > 1) /* not the last: no waiter to wake */
        if (atomic_compare_exchange_weak(&t->pending, &old, old - 1))
            return;
    if (old == 0)
        return;
    pthread_mutex_lock(&t->mu);
    size_t p = atomic_load(&t->pending);
    while (p > 0 && !atomic_compare_exchange_weak(&t->pending, &p, p - 1))
        ; /* adds and other releases may run meanwhile */
    if (p == 1)
        pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

bool zpk_tracker_done(zpk_tracker_t *t)
{
    if (t == NULL)
        return true;
    pthread_mutex_lock(&t->mu);
    bool done = atomic_load(&t->pending) == 0;
    pthread_mutex_unlock(&t->mu);
    return done;
}

int zpk_tracker_wait(zpk_tracker_t *t, int timeout_ms)
{
    if (t == NULL)
        return ZPK_EINVAL;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (timeout_ms > 0) {
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    int rc = 0;
    pthread_mutex_lock(&t->mu);
    while (atomic_load(&t->pending) > 0) {
        if (timeout_ms == 0) {
            rc = -EAGAIN;
            break;
        }
        if (timeout_ms < 0) {
            pthread_cond_wait(&t->cv, &t->mu);
        } else if (pthread_cond_timedwait(&t->cv, &t->mu, &deadline) == ETIMEDOUT) {
            rc = atomic_load(&t->pending) > 0 ? -EAGAIN : 0;
            break;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

void zpk_tracker_destroy(zpk_tracker_t **pt)
{
    if (pt == NULL || *pt == NULL)
        return;
    zpk_tracker_t *t = *pt;
    zpk_tracker_wait(t, -1);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    zpk__free(t);
    *pt = NULL;
}

