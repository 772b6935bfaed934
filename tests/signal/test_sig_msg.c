/* icehub - SPDX-License-Identifier: MIT
 *
 * test_sig_msg.c: signal/sig_msg.c's relay without re-encoding: where
 * sig__member_raw finds a member's text in messages jansson accepted
 * (whitespace, nesting, strings holding braces, quotes and escapes, every
 * value type, the member first, last or alone), that a key written with
 * escapes is not taken for it, and that sig__relay_text's message carries
 * the sender's text as written, or jansson's encoding when the text cannot
 * be found; then the same against jansson for many generated messages,
 * dumped in several styles.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "signal/sig_int.h"

/* The text sig__member_raw finds for <key> in <msg>, or NULL. */
static char *found(const char *msg, const char *key)
{
    static char buf[4096];
    size_t off, vlen;
    if (!sig__member_raw(msg, strlen(msg), key, &off, &vlen))
        return NULL;
    assert_true(vlen < sizeof(buf));
    memcpy(buf, msg + off, vlen);
    buf[vlen] = '\0';
    return buf;
}

static void test_member_raw_cases(void **state)
{
    (void)state;
    assert_string_equal(found("{\"type\":\"signal\",\"data\":{\"a\":1}}", "data"), "{\"a\":1}");
    assert_string_equal(found("{\"data\":[1,2,3],\"to\":\"b\"}", "data"), "[1,2,3]");
    assert_string_equal(found(" { \"to\" : \"b\" , \"data\" :\n\t-12.5e3 \r\n} ", "data"),
                        "-12.5e3");
    assert_string_equal(found("{\"data\":true}", "data"), "true");
    assert_string_equal(found("{\"data\":null,\"x\":0}", "data"), "null");
    /* Strings holding what nesting and quoting look like. */
    assert_string_equal(found("{\"a\":\"}\\\"{[\",\"data\":\"x\\\\\\\"}]\"}", "data"),
                        "\"x\\\\\\\"}]\"");
    assert_string_equal(found("{\"k\":{\"data\":1},\"data\":{\"s\":\"{\\\"\",\"n\":[[],{}]}}",
                              "data"),
                        "{\"s\":\"{\\\"\",\"n\":[[],{}]}");
    /* Nested members of the same name are not the top-level one. */
    assert_null(found("{\"k\":{\"data\":1}}", "data"));
    assert_null(found("{}", "data"));
    assert_null(found("[\"data\",1]", "data"));
    /* A key written with escapes is not found (jansson would read "data"). */
    assert_null(found("{\"d\\u0061ta\":1}", "data"));
    assert_string_equal(found("{\"dat\":1,\"datas\":2,\"data\":3}", "data"), "3");
}

static json_t *parse(const char *s, size_t n)
{
    json_error_t e;
    json_t *j = json_loadb(s, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
    if (!j)
        fail_msg("invalid JSON: %s: %.*s", e.text, (int)n, s);
    return j;
}

static void test_relay_text(void **state)
{
    (void)state;
    const char *in = "{\"type\":\"signal\",\"to\":\"b\",\"data\":{\"n\":0.1,\"m\":1.0}, \"ref\":7}";
    json_t *msg = parse(in, strlen(in));
    size_t len;
    char *out = sig__relay_text(in, strlen(in), "signal", "peer_A-1",
                                json_object_get(msg, "data"), &len);
    /* The sender's numbers as written: no 0.10000000000000001. */
    assert_string_equal(out, "{\"type\":\"signal\",\"from\":\"peer_A-1\",\"data\":"
                             "{\"n\":0.1,\"m\":1.0}}");
    assert_int_equal(len, strlen(out));
    cmn_free(out);
    /* Not found as written: jansson encodes it, equal all the same. */
    const char *esc = "{\"type\":\"broadcast\",\"d\\u0061ta\":[1,\"x\"]}";
    json_t *m2 = parse(esc, strlen(esc));
    out = sig__relay_text(esc, strlen(esc), "broadcast", "p", json_object_get(m2, "data"), &len);
    json_t *o = parse(out, len);
    assert_string_equal(json_string_value(json_object_get(o, "type")), "broadcast");
    assert_true(json_equal(json_object_get(o, "data"), json_object_get(m2, "data")));
    json_decref(o);
    cmn_free(out);
    /* Without the raw text (NULL), too. */
    out = sig__relay_text(NULL, 0, "signal", "p", json_object_get(msg, "data"), &len);
    o = parse(out, len);
    assert_true(json_equal(json_object_get(o, "data"), json_object_get(msg, "data")));
    json_decref(o);
    cmn_free(out);
    json_decref(m2);
    json_decref(msg);
}

/* ---- Against jansson, generated ------------------------------------------- */

static unsigned rnd(unsigned *s, unsigned n)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) % n;
}

static json_t *gen(unsigned *s, int depth)
{
    static const char *const strs[] = {"", "a", "}{", "\"", "\\", "[\"]", "é\n\t", "data", ","};
    switch (rnd(s, depth > 3 ? 5 : 7)) {
    case 0: return json_integer((json_int_t)rnd(s, 100000) - 50000);
    case 1: return json_real((double)rnd(s, 1000) / 7.0);
    case 2: return json_string(strs[rnd(s, 9)]);
    case 3: return rnd(s, 2) ? json_true() : json_false();
    case 4: return json_null();
    case 5: {
        json_t *a = json_array();
        for (unsigned i = rnd(s, 4); i > 0; i--)
            json_array_append_new(a, gen(s, depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (unsigned i = rnd(s, 4); i > 0; i--) {
            char k[16];
            snprintf(k, sizeof(k), "%s%u", i == 1 ? "data" : "k", rnd(s, 3));
            json_object_set_new(o, k, gen(s, depth + 1));
        }
        return o;
    }
    }
}

static void test_against_jansson(void **state)
{
    (void)state;
    static const size_t styles[] = {JSON_COMPACT, JSON_INDENT(2), JSON_INDENT(1) | JSON_SORT_KEYS,
                                    JSON_ENSURE_ASCII, 0};
    unsigned seed = 12345;
    for (int i = 0; i < 3000; i++) {
        json_t *msg = json_object();
        json_t *data = gen(&seed, 0);
        /* "data" somewhere among other members. */
        if (rnd(&seed, 2))
            json_object_set_new(msg, "type", json_string("signal"));
        json_object_set(msg, "data", data);
        if (rnd(&seed, 2))
            json_object_set_new(msg, "to", gen(&seed, 2));
        char *text = json_dumps(msg, styles[rnd(&seed, 5)] | JSON_PRESERVE_ORDER);
        size_t off, vlen;
        assert_true(sig__member_raw(text, strlen(text), "data", &off, &vlen));
        json_t *v = parse(text + off, vlen);
        assert_true(json_equal(v, data));
        json_decref(v);
        size_t len;
        char *out = sig__relay_text(text, strlen(text), "signal", "me", data, &len);
        json_t *o = parse(out, len);
        assert_true(json_equal(json_object_get(o, "data"), data));
        assert_string_equal(json_string_value(json_object_get(o, "from")), "me");
        assert_int_equal(json_object_size(o), 3);
        json_decref(o);
        cmn_free(out);
        free(text);
        json_decref(data);
        json_decref(msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_member_raw_cases),
        cmocka_unit_test(test_relay_text),
        cmocka_unit_test(test_against_jansson),
    };
    return cmocka_run_group_tests_name("sig_msg", tests, NULL, NULL);
}
