/* icehub - SPDX-License-Identifier: MIT
 *
 * stun.h: the STUN message codec (RFC 8489) with the TURN attributes of
 * RFC 8656, ChannelData framing, and the Binding service as a pure function.
 *
 * Everything here works on caller-supplied byte buffers. There are no
 * sockets, clocks, logging or globals, and decoding never allocates: a
 * decoded message borrows pointers into the datagram it came from.
 */
#ifndef STUN_H
#define STUN_H

#include "../common/cmn.h"
#include "../common/cmn_addr.h"

/* ---- Constants ------------------------------------------------------- */

#define STUN_HEADER_LEN 20
#define STUN_MAGIC_COOKIE 0x2112A442u
#define STUN_TID_LEN 12
#define STUN_MAX_ATTRS 48          /* attributes decoded per message */
#define STUN_MAX_UNKNOWN 8         /* unknown comprehension-required kept */
#define STUN_MAX_MSG_LEN 65535     /* 20 + declared length must fit */
#define STUN_FINGERPRINT_XOR 0x5354554Eu
#define STUN_CHANNEL_HEADER_LEN 4

/* Classes (the C1C0 bits, already extracted). */
enum {
    STUN_CLASS_REQUEST = 0,
    STUN_CLASS_INDICATION = 1,
    STUN_CLASS_SUCCESS = 2,
    STUN_CLASS_ERROR = 3,
};

/* Methods (RFC 8489 §18.2, RFC 8656 §17). */
enum {
    STUN_METHOD_BINDING = 0x001,
    STUN_METHOD_ALLOCATE = 0x003,
    STUN_METHOD_REFRESH = 0x004,
    STUN_METHOD_SEND = 0x006,
    STUN_METHOD_DATA = 0x007,
    STUN_METHOD_CREATE_PERMISSION = 0x008,
    STUN_METHOD_CHANNEL_BIND = 0x009,
};

/* Attributes (RFC 8489 §18.3, RFC 8656 §18, RFC 8445 for ICE). */
enum {
    STUN_ATTR_MAPPED_ADDRESS = 0x0001,
    STUN_ATTR_USERNAME = 0x0006,
    STUN_ATTR_MESSAGE_INTEGRITY = 0x0008,
    STUN_ATTR_ERROR_CODE = 0x0009,
    STUN_ATTR_UNKNOWN_ATTRIBUTES = 0x000A,
    STUN_ATTR_CHANNEL_NUMBER = 0x000C,
    STUN_ATTR_LIFETIME = 0x000D,
    STUN_ATTR_XOR_PEER_ADDRESS = 0x0012,
    STUN_ATTR_DATA = 0x0013,
    STUN_ATTR_REALM = 0x0014,
    STUN_ATTR_NONCE = 0x0015,
    STUN_ATTR_XOR_RELAYED_ADDRESS = 0x0016,
    STUN_ATTR_REQUESTED_ADDRESS_FAMILY = 0x0017,
    STUN_ATTR_EVEN_PORT = 0x0018,
    STUN_ATTR_REQUESTED_TRANSPORT = 0x0019,
    STUN_ATTR_DONT_FRAGMENT = 0x001A,
    STUN_ATTR_MESSAGE_INTEGRITY_SHA256 = 0x001C,
    STUN_ATTR_PASSWORD_ALGORITHM = 0x001D,
    STUN_ATTR_USERHASH = 0x001E,
    STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020,
    STUN_ATTR_RESERVATION_TOKEN = 0x0022,
    STUN_ATTR_PRIORITY = 0x0024,
    STUN_ATTR_USE_CANDIDATE = 0x0025,
    /* comprehension-optional range starts at 0x8000 */
    STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY = 0x8000,
    STUN_ATTR_ADDRESS_ERROR_CODE = 0x8001,
    STUN_ATTR_PASSWORD_ALGORITHMS = 0x8002,
    STUN_ATTR_ALTERNATE_DOMAIN = 0x8003,
    STUN_ATTR_ICMP = 0x8004,
    STUN_ATTR_SOFTWARE = 0x8022,
    STUN_ATTR_ALTERNATE_SERVER = 0x8023,
    STUN_ATTR_FINGERPRINT = 0x8028,
    STUN_ATTR_ICE_CONTROLLED = 0x8029,
    STUN_ATTR_ICE_CONTROLLING = 0x802A,
};

/* PASSWORD-ALGORITHM values (RFC 8489 §18.5). */
enum {
    STUN_PWALG_MD5 = 0x0001,
    STUN_PWALG_SHA256 = 0x0002,
};

/* Address families in address attributes. */
enum {
    STUN_FAMILY_IPV4 = 0x01,
    STUN_FAMILY_IPV6 = 0x02,
};

/* Attribute value limits (RFC 8489 §14). */
/* RFC 8489 §14.3: a sender's USERNAME is fewer than 509 bytes, but a receiver
 * MUST parse up to 763 bytes for RFC 5389 compatibility, so 763 is the limit
 * stun_attr_get_text enforces (size copies as STUN_USERNAME_MAX + 1). */
#define STUN_USERNAME_MAX 763        /* bytes */
#define STUN_REALM_MAX 763
#define STUN_NONCE_MAX 763
#define STUN_SOFTWARE_MAX 763
#define STUN_REASON_MAX 763
#define STUN_ALTERNATE_DOMAIN_MAX 255 /* RFC 8489 §14.16: at most 255 ASCII characters */

/* ---- Decoding -------------------------------------------------------- */

/* Why a message failed to decode. Stable names (stun_derr_name) are used as
 * metric labels, so append only. */
typedef enum stun_derr_e {
    STUN_DERR_NONE = 0,
    STUN_DERR_TRUNCATED_HEADER,   /* fewer than 20 bytes */
    STUN_DERR_NOT_STUN,           /* top two bits not zero */
    STUN_DERR_BAD_COOKIE,         /* magic cookie mismatch (and not classic STUN) */
    STUN_DERR_LENGTH_ALIGN,       /* declared length not a multiple of 4 */
    STUN_DERR_LENGTH_MISMATCH,    /* declared length != bytes present */
    STUN_DERR_ATTR_TRUNCATED,     /* attribute header or value runs past the end */
    STUN_DERR_ATTR_AFTER_INTEGRITY, /* attribute after MESSAGE-INTEGRITY(-SHA256) not allowed */
    STUN_DERR_ATTR_AFTER_FINGERPRINT, /* anything after FINGERPRINT */
    STUN_DERR_TOO_MANY_ATTRS,     /* more than STUN_MAX_ATTRS */
    STUN_DERR_BAD_ATTR_LENGTH,    /* fixed-size attribute with wrong length */
    STUN_DERR_BAD_FINGERPRINT,    /* FINGERPRINT present but wrong */
    STUN_DERR_COUNT
} stun_derr_t;

const char *stun_derr_name(stun_derr_t e); /* "truncated_header", ... */

typedef struct stun_attr_s {
    uint16_t type;
    uint16_t len;          /* value length, without padding */
    const uint8_t *val;    /* borrowed: points into the decoded datagram */
    uint16_t offset;       /* offset of the attribute header from message start */
} stun_attr_t;

typedef struct stun_msg_s {
    const uint8_t *raw;    /* borrowed: the datagram; valid while the caller keeps it */
    size_t raw_len;        /* 20 + length */
    uint16_t type;         /* the full 14-bit message type */
    uint16_t method;       /* 12-bit method */
    uint8_t cls;           /* STUN_CLASS_* */
    bool classic;          /* RFC 3489 request: no magic cookie; tid is 16 bytes at raw+4 */
    uint16_t length;       /* declared body length */
    uint8_t tid[STUN_TID_LEN];
    uint16_t nattrs;
    stun_attr_t attrs[STUN_MAX_ATTRS];
    int16_t idx_integrity;        /* index of MESSAGE-INTEGRITY or -1 */
    int16_t idx_integrity_sha256; /* index of MESSAGE-INTEGRITY-SHA256 or -1 */
    int16_t idx_fingerprint;      /* index of FINGERPRINT or -1 */
    uint16_t nunknown;     /* unknown comprehension-required attributes seen */
    uint16_t unknown[STUN_MAX_UNKNOWN];
} stun_msg_t;

/* stun_msg_decode: decode and validate the framing of one STUN message in
 * <src,len> (a whole datagram, or one frame cut by stun_frame_len).
 * Checks, in order: header present, top bits zero, magic cookie (a cookie-less
 * Binding request is accepted as RFC 3489 "classic"), length a multiple of 4,
 * length equals the bytes present, every attribute within bounds, ordering
 * rules around MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT
 * (RFC 8489 §14.5, §14.6, §14.7: after MESSAGE-INTEGRITY only
 * MESSAGE-INTEGRITY-SHA256 and FINGERPRINT; after MESSAGE-INTEGRITY-SHA256
 * only FINGERPRINT; nothing after FINGERPRINT), the length of fixed-size
 * attributes, and the FINGERPRINT value if present.
 * Unknown comprehension-required attributes (type < 0x8000) do not fail the
 * decode; they are listed in m->unknown (deduplicated, at most
 * STUN_MAX_UNKNOWN) so a server can answer 420.
 * RFC 8489 §14.5/§14.6 tell a receiver to ignore other attributes that follow
 * MESSAGE-INTEGRITY(-SHA256). icehub is stricter: such a message is rejected
 * with STUN_DERR_ATTR_AFTER_INTEGRITY (and anything after FINGERPRINT with
 * STUN_DERR_ATTR_AFTER_FINGERPRINT), because no conforming sender produces
 * one and the ignored bytes would sit outside the integrity check.
 * Returns 0, or CMN_EPROTO with *why set (why may be NULL). On failure the
 * contents of *m are unspecified. */
int stun_msg_decode(stun_msg_t *m, const uint8_t *src, size_t len, stun_derr_t *why);

/* stun_bad_request: the answer to a message stun_msg_decode refused for
 * <why>. When the header was sound (a request with the magic cookie whose
 * attributes are malformed: truncated, too many, misplaced after
 * MESSAGE-INTEGRITY/FINGERPRINT, or a fixed-size attribute of the wrong
 * length), writes a 400 Bad Request error response with the request's
 * method and transaction id into <out> (cap >= 64) and returns its length
 * (RFC 8489 §6.3.1.1). Otherwise (not a request, no cookie, a broken
 * header, a wrong FINGERPRINT: maybe not STUN at all) returns 0: drop it.
 * The response carries no MESSAGE-INTEGRITY: nothing was authenticated. */
size_t stun_bad_request(const uint8_t *src, size_t len, stun_derr_t why, uint8_t *out, size_t cap);

/* stun_is_stun: a cheap first check of a datagram: at least 20 bytes, top
 * two bits zero and the magic cookie present. For demultiplexing. */
bool stun_is_stun(const uint8_t *src, size_t len);

/* First attribute of <type>, or NULL. */
const stun_attr_t *stun_msg_find(const stun_msg_t *m, uint16_t type);

static inline uint16_t stun_type(uint16_t method, uint8_t cls)
{
    return (uint16_t)(((method & 0xF80) << 2) | ((method & 0x070) << 1) | (method & 0x00F) |
                      ((cls & 2) << 7) | ((cls & 1) << 4));
}

/* ---- Attribute values -----------------------------------------------
 * Each returns 0, or CMN_EPROTO when the value is malformed. */

/* XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS. Needs the tid. */
int stun_attr_get_xor_addr(const stun_msg_t *m, const stun_attr_t *a, cmn_addr_t *out);
/* MAPPED-ADDRESS, ALTERNATE-SERVER. */
int stun_attr_get_addr(const stun_attr_t *a, cmn_addr_t *out);
/* LIFETIME, PRIORITY, FINGERPRINT, ...: a 4-byte value. */
int stun_attr_get_u32(const stun_attr_t *a, uint32_t *out);
/* ICE-CONTROLLED, ICE-CONTROLLING, RESERVATION-TOKEN: an 8-byte value. */
int stun_attr_get_u64(const stun_attr_t *a, uint64_t *out);
/* CHANNEL-NUMBER: 2-byte number + 2 RFFU bytes. */
int stun_attr_get_channel(const stun_attr_t *a, uint16_t *out);
/* REQUESTED-TRANSPORT: protocol number (17 = UDP). Only the length is
 * checked; the caller decides which protocols it supports (442). */
int stun_attr_get_transport(const stun_attr_t *a, uint8_t *proto);
/* REQUESTED-ADDRESS-FAMILY, ADDITIONAL-ADDRESS-FAMILY: the family byte as
 * sent (STUN_FAMILY_* when valid). Only the length is checked, so the caller
 * can answer 440 to an unsupported family (RFC 8656 §7.2). */
int stun_attr_get_family(const stun_attr_t *a, uint8_t *family);
/* EVEN-PORT: the R bit. */
int stun_attr_get_even_port(const stun_attr_t *a, bool *reserve);
/* ERROR-CODE: code 300..699 and a borrowed reason phrase. */
int stun_attr_get_error(const stun_attr_t *a, int *code, const char **reason, size_t *reason_len);
/* ADDRESS-ERROR-CODE: family + code + reason. */
int stun_attr_get_addr_error(const stun_attr_t *a, uint8_t *family, int *code,
                             const char **reason, size_t *reason_len);
/* ICMP (RFC 8656 §18.13): type (byte 2) and code (byte 3), and the error
 * data word. */
int stun_attr_get_icmp(const stun_attr_t *a, uint8_t *type, uint8_t *code, uint32_t *data);
/* UNKNOWN-ATTRIBUTES: up to <max> types; *n is the number stored. */
int stun_attr_get_unknown(const stun_attr_t *a, uint16_t *types, size_t max, size_t *n);
/* PASSWORD-ALGORITHM: algorithm and parameters (borrowed). */
int stun_attr_get_pwalg(const stun_attr_t *a, uint16_t *alg, const uint8_t **params, size_t *plen);
/* PASSWORD-ALGORITHMS: iterate entries; returns 0 and fills alg at index <i>,
 * CMN_ENOENT past the end, CMN_EPROTO if malformed. */
int stun_attr_get_pwalgs(const stun_attr_t *a, size_t i, uint16_t *alg);
/* Text attributes (USERNAME, REALM, NONCE, SOFTWARE, ALTERNATE-DOMAIN):
 * checks the RFC size limit for the type and that the bytes are UTF-8.
 * *s borrows from the datagram and is not NUL-terminated. Other types are
 * only checked for UTF-8. */
int stun_attr_get_text(const stun_attr_t *a, const char **s, size_t *len);

/* ---- Encoding ---------------------------------------------------------
 * An encoder writes into a caller buffer. Any failure (no room: CMN_ENOMEM;
 * bad value or attribute order: CMN_EINVAL) is sticky: later calls do
 * nothing and return it, and stun_enc_finish returns it too. The header's
 * length field is kept current after every attribute.
 * Attribute order is enforced as the decoder checks it (RFC 8489 §14.5-14.7):
 * after MESSAGE-INTEGRITY only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT, after
 * MESSAGE-INTEGRITY-SHA256 only FINGERPRINT, nothing after FINGERPRINT.
 * Padding bytes are written as zero unless stun_enc_set_pad says otherwise. */

typedef struct stun_enc_s {
    uint8_t *buf;   /* borrowed */
    size_t cap;
    size_t len;     /* bytes written so far, header included */
    int err;        /* first error, 0 if none */
    uint8_t tid[STUN_TID_LEN];
    uint8_t pad;    /* value of padding bytes, 0 by default */
    uint8_t stage;  /* ordering stage (internal) */
    bool classic;   /* RFC 3489 header: no magic cookie, 16-byte tid */
} stun_enc_t;

/* Start a message of <type> (see stun_type) with transaction id <tid>. */
void stun_enc_init(stun_enc_t *e, uint8_t *buf, size_t cap, uint16_t type,
                   const uint8_t tid[STUN_TID_LEN]);
/* Start an RFC 3489 message (a response to a classic request): bytes 4..19
 * are the 16-byte transaction id <tid16> (stun_msg_t.raw + 4 of the request),
 * with no magic cookie. XOR-* addresses can't be encoded in such a message. */
void stun_enc_init_classic(stun_enc_t *e, uint8_t *buf, size_t cap, uint16_t type,
                           const uint8_t tid16[16]);
/* Value written into the padding of later attributes (default 0). RFC 8489
 * §14 lets a sender put anything there and a receiver ignores it; it is here
 * so tests can reproduce RFC 5769's vectors, which pad with 0x20. */
void stun_enc_set_pad(stun_enc_t *e, uint8_t pad);
/* Any attribute from raw bytes; <val> may be NULL when <len> is 0. */
int stun_enc_attr(stun_enc_t *e, uint16_t type, const void *val, size_t len);
int stun_enc_u32(stun_enc_t *e, uint16_t type, uint32_t v);
int stun_enc_u64(stun_enc_t *e, uint16_t type, uint64_t v); /* ICE-CONTROLL*, RESERVATION-TOKEN */
int stun_enc_text(stun_enc_t *e, uint16_t type, const char *s);
int stun_enc_addr(stun_enc_t *e, uint16_t type, const cmn_addr_t *a);     /* MAPPED-ADDRESS style */
int stun_enc_xor_addr(stun_enc_t *e, uint16_t type, const cmn_addr_t *a); /* XOR-* style */
int stun_enc_error(stun_enc_t *e, int code, const char *reason);
int stun_enc_unknown(stun_enc_t *e, const uint16_t *types, size_t n);
int stun_enc_channel(stun_enc_t *e, uint16_t channel);
int stun_enc_transport(stun_enc_t *e, uint8_t proto);
int stun_enc_family(stun_enc_t *e, uint16_t type, uint8_t family);
int stun_enc_even_port(stun_enc_t *e, bool reserve);
int stun_enc_addr_error(stun_enc_t *e, uint8_t family, int code, const char *reason);
int stun_enc_icmp(stun_enc_t *e, uint8_t type, uint8_t code, uint32_t data);
int stun_enc_pwalg(stun_enc_t *e, uint16_t alg);
int stun_enc_pwalgs(stun_enc_t *e, const uint16_t *algs, size_t n);
/* Append MESSAGE-INTEGRITY (HMAC-SHA1) / MESSAGE-INTEGRITY-SHA256 computed
 * with <key> over the message so far (RFC 8489 §14.5, §14.6). */
int stun_enc_integrity(stun_enc_t *e, const uint8_t *key, size_t keylen);
int stun_enc_integrity_sha256(stun_enc_t *e, const uint8_t *key, size_t keylen);
/* MESSAGE-INTEGRITY-SHA256 truncated to <len> bytes: 16..32, a multiple of 4
 * (§14.6); other lengths fail with CMN_EINVAL. */
int stun_enc_integrity_sha256_trunc(stun_enc_t *e, const uint8_t *key, size_t keylen,
                                    size_t len);
/* Append FINGERPRINT (RFC 8489 §14.7). Must be last. */
int stun_enc_fingerprint(stun_enc_t *e);
/* Finish: returns the total message length (> 0), or the first error. */
ssize_t stun_enc_finish(stun_enc_t *e);

/* ---- Integrity and keys --------------------------------------------- */

/* Verify the message's MESSAGE-INTEGRITY / MESSAGE-INTEGRITY-SHA256 with
 * <key> (constant-time compare). Returns 0, CMN_ENOENT if the attribute is
 * absent, CMN_EAUTH if it does not match (CMN_EIO if OpenSSL failed).
 * MI-SHA256 accepts truncation to 16..32 bytes in multiples of 4 (§14.6).
 * When attributes follow the integrity attribute (FINGERPRINT), the HMAC
 * input is a copy with the adjusted length: on the stack up to 2 KiB, from
 * cmn_malloc above that. */
int stun_msg_check_integrity(const stun_msg_t *m, const uint8_t *key, size_t keylen);
int stun_msg_check_integrity_sha256(const stun_msg_t *m, const uint8_t *key, size_t keylen);
/* FINGERPRINT check (done by decode already; exposed for tests).
 * Returns 0, CMN_ENOENT if absent, CMN_EPROTO if it does not match. */
int stun_msg_check_fingerprint(const stun_msg_t *m);

#define STUN_KEY_MAX 32
/* Long-term credential key (RFC 8489 §9.2.2): MD5 or SHA-256 of
 * "username:realm:password" (after OpaqueString, which callers apply).
 * Writes 16 or 32 bytes into <key>, sets *keylen. Returns 0, CMN_EINVAL
 * (unknown <alg>, or a part longer than STUN_MAX_MSG_LEN) or CMN_EIO. */
int stun_key_long_term(uint16_t alg, const char *user, size_t ulen, const char *realm,
                       size_t rlen, const char *pass, size_t plen, uint8_t key[STUN_KEY_MAX],
                       size_t *keylen);
/* USERHASH (RFC 8489 §14.4): SHA-256 of "username:realm" (both after
 * OpaqueString, which callers apply). Writes zeros if a part is longer than
 * STUN_MAX_MSG_LEN. */
void stun_userhash(const char *user, size_t ulen, const char *realm, size_t rlen,
                   uint8_t out[32]);

/* CRC-32 (ISO-HDLC, as in zlib), without the FINGERPRINT XOR. */
uint32_t stun_crc32(const uint8_t *p, size_t len);

/* ---- Streams and ChannelData --------------------------------------- */

/* stun_frame_len: given the start of a byte stream (TCP/TLS), the length
 * of the next frame: a STUN message (20 + length), or a ChannelData
 * message (4 + length, rounded up to a multiple of 4 on streams, RFC 8656
 * §12.5). Returns the frame length (which may exceed <len>: wait for more),
 * CMN_EAGAIN if fewer than 4 bytes are available, or CMN_EPROTO if the bytes
 * can't start either kind of frame (the connection should be closed): first
 * byte not 00xxxxxx/01xxxxxx (checked as soon as one byte is there), a STUN
 * length not a multiple of 4, a wrong magic cookie (once 8 bytes are there),
 * or a frame longer than STUN_MAX_MSG_LEN. */
ssize_t stun_frame_len(const uint8_t *src, size_t len);

/* ChannelData (RFC 8656 §12.4): channel numbers 0x4000-0x7FFF are accepted
 * (RFC 5766's range; RFC 8656 narrowed it to 0x4000-0x4FFF; see turn/). */
#define STUN_CHANNEL_MIN 0x4000
#define STUN_CHANNEL_MAX 0x7FFF
static inline bool stun_is_channel_data(const uint8_t *src, size_t len)
{
    return len >= STUN_CHANNEL_HEADER_LEN && (src[0] & 0xC0) == 0x40;
}
/* Decode a ChannelData datagram: *data borrows from src. On a datagram
 * the declared length may be shorter than the bytes present by at most the
 * padding to a multiple of 4 (RFC 8656 §12.5); longer, or more trailing
 * bytes, is an error. Returns 0 or CMN_EPROTO. */
int stun_chdata_decode(const uint8_t *src, size_t len, uint16_t *channel,
                       const uint8_t **data, size_t *dlen);
/* Write the 4-byte ChannelData header. */
void stun_chdata_header(uint8_t *dst, uint16_t channel, uint16_t dlen);

/* ---- Binding service (RFC 8489 §6.3) --------------------------------- */

typedef struct stun_binding_cfg_s {
    const char *software;   /* SOFTWARE value, or NULL/"" to omit */
} stun_binding_cfg_t;

typedef enum stun_bind_res_e {
    STUN_BIND_REPLY = 0,    /* *out holds the response to send */
    STUN_BIND_IGNORE,       /* valid, but needs no reply (e.g. a Binding indication) */
    STUN_BIND_NOT_BINDING,  /* another method: for TURN to handle */
} stun_bind_res_t;

/* stun_binding_handle: answer a decoded request <m> that arrived from
 * <src>. Writes a success response with XOR-MAPPED-ADDRESS (or, for a
 * classic RFC 3489 request, MAPPED-ADDRESS and the 16-byte transaction id
 * echoed), SOFTWARE and FINGERPRINT; or a 420 error with UNKNOWN-ATTRIBUTES
 * when <m> has unknown comprehension-required attributes. Nothing from the
 * request is reflected beyond the transaction id, so the response is the
 * minimum the RFC asks for. A response to a classic request carries no
 * FINGERPRINT (an RFC 3489 client doesn't know it); in a classic request
 * CHANGE-REQUEST (0x0003, RFC 3489 §11.2.4) is understood: without change
 * flags it is ignored, with them the request yields STUN_BIND_IGNORE (this
 * server has no alternate address to answer from). <out> must hold at least
 * 128 bytes (more if cfg->software is long); if the response doesn't fit or
 * <src> has no valid family, the result is STUN_BIND_IGNORE with *out_len 0.
 * A Binding indication, success or error response yields STUN_BIND_IGNORE. */
stun_bind_res_t stun_binding_handle(const stun_binding_cfg_t *cfg, const stun_msg_t *m,
                                    const cmn_addr_t *src, uint8_t *out, size_t cap,
                                    size_t *out_len);

#endif /* STUN_H */
