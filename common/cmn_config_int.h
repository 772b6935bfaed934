/* icehub - SPDX-License-Identifier: MIT
 *
 * cmn_config_int.h: what cmn_config.c (sources, validation, printing) and
 * cmn_config_schema.c (the table and the per-type value parsers) share.
 * Not for use outside common/cmn_config*.c.
 */
#ifndef CMN_CONFIG_INT_H
#define CMN_CONFIG_INT_H

#include "cmn_config.h"

/* Room for one "expected ..." or "found ..." phrase. */
#define CMN__CFG_TEXT_MAX 192

/* One setting's value while it is parsed. Each member has the layout of the
 * cmn_settings_t field of its type, so storing is a copy. */
typedef union cmn__cfg_val_u {
    bool b;
    int i;
    uint64_t u64;
    double d;
    char *str;
    cmn_addr_t ip;
    uint16_t range[2];
    cmn_log_level_t level;
    cmn_strlist_t sl;
    cmn_addrlist_t al;
    cmn_cidrset_t cs;
} cmn__cfg_val_t;

bool cmn__cfg_is_list(cmn_cfg_type_t t);

/* What a value (for lists: one element) of <d> must look like, as a phrase
 * for "expected <phrase>". Returns <buf>. */
const char *cmn__cfg_expect(const cmn_cfg_def_t *d, char *buf, size_t len);

/* Parse the text form (flag, variable, default or file string) of a scalar
 * setting into <v>. On failure returns CMN_EINVAL; <*why> is then NULL (use
 * cmn__cfg_expect) or a static phrase naming the rule that was broken. */
int cmn__cfg_parse_scalar(const cmn_cfg_def_t *d, const char *text, cmn__cfg_val_t *v,
                          const char **why);
/* Check an integer against the bounds of <d>. */
bool cmn__cfg_int_ok(const cmn_cfg_def_t *d, long long x);
/* Parse one list element and append it to <v> (zeroed before the first
 * call). Failure as for cmn__cfg_parse_scalar. */
int cmn__cfg_list_add(const cmn_cfg_def_t *d, cmn__cfg_val_t *v, const char *elem,
                      const char **why);

/* Replace the field of <d> in <s> by <v>, freeing the old value; <v> is
 * moved and must not be freed afterwards. */
void cmn__cfg_store(cmn_settings_t *s, const cmn_cfg_def_t *d, cmn__cfg_val_t *v);
void cmn__cfg_val_free(const cmn_cfg_def_t *d, cmn__cfg_val_t *v);
/* Free the field of <d> in <s> and zero it. */
void cmn__cfg_field_free(cmn_settings_t *s, const cmn_cfg_def_t *d);

/* <text> as a "found" phrase: double-quoted with \" \\ and \xNN escapes and
 * cut at a sane length. For USERLIST the password is masked: an element
 * must not leak a credential into logs. */
const char *cmn__cfg_found(const cmn_cfg_def_t *d, const char *text, char *buf, size_t len);

/* cmn_config_types.c: the numeric and word types (SIZE, DOUBLE, ENUM,
 * WORDS and RATEMAP elements): parse text, check a libconfig number, print. */
int cmn__cfg_parse_num(const cmn_cfg_def_t *d, const char *text, cmn__cfg_val_t *v,
                       const char **why);
/* A libconfig integer or float <x> (is_float) for a SIZE or DOUBLE setting. */
int cmn__cfg_num_from_file(const cmn_cfg_def_t *d, long long i, double x, bool is_float,
                           cmn__cfg_val_t *v);
const char *cmn__cfg_num_expect(const cmn_cfg_def_t *d, char *buf, size_t len);
int cmn__cfg_add_ratemap(cmn_strlist_t *l, const char *elem, const char **why);
/* Set the bit of word <elem> (one of <d>'s choices) in <bits>; a word
 * given twice is refused with <*why> set. */
int cmn__cfg_add_word(const cmn_cfg_def_t *d, int *bits, const char *elem, const char **why);
void cmn__cfg_num_print(FILE *f, const cmn_cfg_def_t *d, const void *p);

/* The address through which other hosts reach a hub with neither
 * signal.require_token nor signal.allowed_origins (whatever signal.open
 * says), or NULL; the name of its setting in <*setting>. */
const cmn_addr_t *cmn__cfg_open_hub(const cmn_settings_t *s, const char **setting);

/* cmn_config_hint.c: what helps a reader past a mistake. */
/* For a libconfig syntax error at <line> of the file <path>: read that line
 * and, when it shows a common slip (an unquoted string or address, a size
 * such as 2M without quotes), write "; hint: ..." into <buf>; otherwise "".
 * Returns <buf>. */
const char *cmn__cfg_syntax_hint(const char *path, int line, char *buf, size_t len);
/* Report, through <warn>, values of the loaded <s> that the daemon will
 * not use as given (see cmn_config_src_t.warn). */
void cmn__cfg_warnings(const cmn_settings_t *s, void (*warn)(void *ud, const char *msg),
                       void *ud);

#endif /* CMN_CONFIG_INT_H */
