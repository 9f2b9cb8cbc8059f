/*
 * Fuzz target: envelopes and frames through the public decode calls
 * (zmqpack/message.h), as a binding or a proxy hands them over: each frame
 * a heap copy with its own release.
 *
 * Input: one control byte (which call: packed, ndarray, mixed, mixed with
 * ZPK_RECV_BYTES; whether to pass an envelope output and small limits, or
 * for ndarrays recipe_meta),
 * then frames as [u16 LE length][bytes]...; a length past the end takes
 * what is left; at most 64 frames.
 *
 * Checks: the only errors are negative codes with err->code equal to them
 * and err->frame inside the message (or -1); every frame is released
 * exactly once, whatever happens, and only once nothing decoded is alive;
 * on error the outputs are empty; on success the envelope is the frames
 * before the first header-like frame (or before the recipe), and a
 * decoded message encodes again and decodes to the same bytes; recipe_meta
 * is a JSON object's text on success and NULL on error; nothing
 * large is allocated, nothing leaks.
 */
#include "fuzz_tree.h"

#define S_MAX_FRAMES 64
#define S_MAX_ARRAY ((size_t)1 << 20)

static size_t s_released;

static void s_release(void *data, void *hint)
{
    (void)hint;
    s_released++;
    free(data);
}

/* Re-encodes a decoded mixed (or packed) message and decodes it again:
 * the same object bytes and ndarrays. */
static void s_roundtrip(const zpk_mixed_t *m, bool mixed)
{
    zpk_writer_t w;
    zpk_writer_init_growable(&w, 0);
    zpk_write_raw(&w, m->packed, m->packed_size);
    zpk_frames_t f;
    int rc = mixed ? zpk_encode_mixed(&w, m->ndarrays, m->n_ndarrays, NULL, &f, NULL)
                   : zpk_encode_packed(&w, NULL, &f, NULL);
    FUZZ_CHECK(rc == 0);
    zpk_mixed_t back;
    zpk_recv_opts_t o;
    zpk_recv_opts_init(&o);
    o.flags = ZPK_RECV_BYTES;
    rc = zpk_decode_mixed(f.frames, f.n, &o, NULL, &back, NULL);
    f.n = 0; /* the decode took the frames over */
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(back.packed_size == m->packed_size);
    FUZZ_CHECK(memcmp(back.packed, m->packed, m->packed_size) == 0);
    FUZZ_CHECK(back.n_ndarrays == m->n_ndarrays);
    for (size_t i = 0; i < m->n_ndarrays; i++) {
        FUZZ_CHECK(back.ndarrays[i].nbytes == m->ndarrays[i].nbytes);
        FUZZ_CHECK(m->ndarrays[i].nbytes == 0 ||
                   memcmp(back.ndarrays[i].data, m->ndarrays[i].data, m->ndarrays[i].nbytes) == 0);
    }
    zpk_mixed_free(&back);
    zpk_frames_free(&f);
    zpk_writer_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_begin(size, 64, S_MAX_ARRAY + 64 * 1024);
    fuzz_in_t in = {data, size};
    unsigned ctl = in.n > 0 ? fuzz_u8(&in) : 0;
    zpk_frame_t frames[S_MAX_FRAMES];
    size_t n = 0;
    while (in.n > 0 && n < S_MAX_FRAMES) {
        size_t len = fuzz_u16(&in);
        const uint8_t *p;
        len = fuzz_take(&in, len, &p);
        frames[n] = (zpk_frame_t){fuzz_dup(p, len), len, s_release, NULL};
        n++;
    }
    /* where the header is, as the protocol says (for the envelope check) */
    size_t hi = 0;
    while (hi < n && !zpk_is_header(frames[hi].data, frames[hi].size))
        hi++;

    zpk_ndarray_opts_t aopts;
    zpk_ndarray_opts_default(&aopts);
    aopts.max_ndarray_bytes = S_MAX_ARRAY;
    zpk_limits_t lim;
    zpk_limits_default(&lim, S_MAX_ARRAY);
    if (ctl & 8)
        lim.max_depth = 4;
    zpk_recv_opts_t o;
    zpk_recv_opts_init(&o);
    o.array_opts = &aopts;
    o.limits = &lim;
    if ((ctl & 3) == 3)
        o.flags = ZPK_RECV_BYTES;
    zpk_envelope_t env, *envp = ctl & 4 ? &env : NULL;
    zpk_error_t err;
    s_released = 0;
    int rc;
    switch (ctl & 3) {
    case 0: {
        zpk_doc_t *doc = (zpk_doc_t *)&doc;
        rc = zpk_decode_packed(frames, n, &o, envp, &doc, &err);
        FUZZ_CHECK((rc == 0) == (doc != NULL));
        zpk_doc_destroy(&doc);
        break;
    }
    case 1: {
        zpk_ndarray_t a;
        char *meta = (char *)&meta; /* the recipe header's other keys, with ctl & 8 */
        if (ctl & 8)
            o.recipe_meta = &meta;
        rc = zpk_decode_ndarray(frames, n, &o, envp, &a, &err);
        if (rc == 0) {
            ftouch(a.data, a.nbytes);
            FUZZ_CHECK(a.nbytes <= S_MAX_ARRAY);
        } else {
            FUZZ_CHECK(a.data == NULL && a.nbytes == 0);
        }
        if (ctl & 8) { /* a JSON object's text on success, NULL on error */
            FUZZ_CHECK((rc == 0) == (meta != NULL));
            size_t ml = meta != NULL ? strlen(meta) : 0;
            FUZZ_CHECK(meta == NULL || (ml >= 2 && meta[0] == '{' && meta[ml - 1] == '}'));
            zpk_free(meta);
        }
        zpk_ndarray_free(&a);
        break;
    }
    default: {
        zpk_mixed_t m;
        rc = zpk_decode_mixed(frames, n, &o, envp, &m, &err);
        if (rc == 0) {
            FUZZ_CHECK(m.packed != NULL && m.packed_size > 0);
            FUZZ_CHECK((m.doc == NULL) == ((ctl & 3) == 3));
            for (size_t i = 0; i < m.n_ndarrays; i++)
                ftouch(m.ndarrays[i].data, m.ndarrays[i].nbytes);
            /* a parsed object re-encodes to the same message */
            if (m.doc != NULL)
                s_roundtrip(&m, m.n_ndarrays > 0);
        } else {
            FUZZ_CHECK(m.doc == NULL && m.packed == NULL && m.n_ndarrays == 0);
        }
        zpk_mixed_free(&m);
        break;
    }
    }
    if (rc != 0) {
        FUZZ_CHECK(rc < 0 && err.code == rc);
        FUZZ_CHECK(err.frame >= -1 && err.frame <= (int)n);
        FUZZ_CHECK(s_released == n); /* released before the call returned */
        if (envp != NULL)
            FUZZ_CHECK(env.n == 0 && env.frames == NULL);
    } else if (envp != NULL) {
        /* the envelope: the frames before the header, or before the recipe */
        FUZZ_CHECK(env.n == (hi < n ? hi : n - 2));
        for (size_t i = 0; i < env.n; i++)
            FUZZ_CHECK(env.frames[i].data == frames[i].data);
        FUZZ_CHECK(env.n == 0 || s_released == 0); /* the envelope holds them */
        zpk_envelope_free(&env);
    }
    FUZZ_CHECK(s_released == n); /* every frame exactly once, nothing kept */
    fuzz_end();
    return 0;
}
