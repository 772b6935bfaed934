/* icehub - SPDX-License-Identifier: MIT
 *
 * ihd_redis_lua.c: the Lua scripts icehubd runs in Redis (EVAL). Each
 * reads and changes its keys and publishes what the change means in one
 * step, so every node sees a room's members and events in one order
 * (docs/scaling.md lists the keys and messages). Keys (P = redis.prefix):
 *
 *   P rm:ROOM   hash: member id -> "SEQ NODE" (SEQ: join order)
 *   P rs:ROOM   the room's last SEQ
 *   P nr:NODE   set: rooms where NODE has members
 *   P node:NODE the node's heartbeat (its JSON), expiring after node_ttl
 *   P u:START   hash: "KIND:USER" -> this period's cluster total (KIND:
 *               pb, cb bytes to peer / client, pp, cp packets, a allocations)
 *   P un:START:NODE  the same, NODE's share
 *   P us:START  the period's usage batch counter
 *   P rv        hash: user -> revocation record (JSON)
 *
 * Channels: P r:ROOM, P n:NODE, P c (heartbeats, usage, revocations).
 * Scripts that build keys from names they were given (reap, prune, bye)
 * need a single Redis, not Redis Cluster. Ids and node names are url-safe
 * (the hub checks them), so the scripts write them into JSON as they are.
 * Answers: 0 done; -1 taken; -2 full; -3 not there; a positive number:
 * see the script.
 */
#include "ihd_redis.h"

/* members(hash): the room's members as JSON [["ID",SEQ,"NODE"],...].
 * node_of(v), seq_of(v): the parts of a "SEQ NODE" value.
 * has_node(hash, node): whether NODE still has a member there.
 * tidy(hash, seqkey, set, node, room): after a removal, forget an empty
 * room and a node with no member left in it.
 * drop(prefix, room, node, why): remove NODE's members of ROOM,
 * publishing each one's "left". */
#define LUA_LIB \
    "local function node_of(v) return string.sub(v, string.find(v, ' ', 1, true) + 1) end\n" \
    "local function seq_of(v) return string.sub(v, 1, string.find(v, ' ', 1, true) - 1) end\n" \
    "local function members(k)\n" \
    "  local all = redis.call('HGETALL', k)\n" \
    "  local out = {}\n" \
    "  for i = 1, #all, 2 do\n" \
    "    out[#out + 1] = '[\"' .. all[i] .. '\",' .. seq_of(all[i + 1]) .. ',\"' ..\n" \
    "      node_of(all[i + 1]) .. '\"]'\n" \
    "  end\n" \
    "  return '[' .. table.concat(out, ',') .. ']'\n" \
    "end\n" \
    "local function has_node(k, node)\n" \
    "  for _, v in ipairs(redis.call('HVALS', k)) do\n" \
    "    if node_of(v) == node then return true end\n" \
    "  end\n" \
    "  return false\n" \
    "end\n" \
    "local function tidy(k, seqk, set, node, room)\n" \
    "  if redis.call('HLEN', k) == 0 then redis.call('DEL', k, seqk) end\n" \
    "  if not has_node(k, node) then redis.call('SREM', set, room) end\n" \
    "end\n" \
    "local function drop(p, room, node, why)\n" \
    "  local k = p .. 'rm:' .. room\n" \
    "  local all = redis.call('HGETALL', k)\n" \
    "  for i = 1, #all, 2 do\n" \
    "    if node_of(all[i + 1]) == node then\n" \
    "      redis.call('HDEL', k, all[i])\n" \
    "      redis.call('PUBLISH', p .. 'r:' .. room, '{\"k\":\"left\",\"n\":\"' .. node ..\n" \
    "        '\",\"id\":\"' .. all[i] .. '\",\"why\":\"' .. why .. '\"}')\n" \
    "    end\n" \
    "  end\n" \
    "  if redis.call('HLEN', k) == 0 then redis.call('DEL', k, p .. 'rs:' .. room) end\n" \
    "end\n"

/* KEYS: room hash, room seq, node's room set, room channel.
 * ARGV: id, node, max, message prefix, room. */
const char ihd_lua_join[] = LUA_LIB
    "if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return -1 end\n"
    "if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return -2 end\n"
    "local seq = redis.call('INCR', KEYS[2])\n"
    "redis.call('HSET', KEYS[1], ARGV[1], seq .. ' ' .. ARGV[2])\n"
    "redis.call('SADD', KEYS[3], ARGV[5])\n"
    "redis.call('PUBLISH', KEYS[4], ARGV[4] .. ',\"s\":' .. seq .. ',\"m\":' .. members(KEYS[1])"
    " .. '}')\n"
    "return 0\n";

/* KEYS: room hash, room seq, node's room set, room channel.
 * ARGV: id, node, message, room. */
const char ihd_lua_leave[] = LUA_LIB
    "local v = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if not v or node_of(v) ~= ARGV[2] then return -3 end\n"
    "redis.call('HDEL', KEYS[1], ARGV[1])\n"
    "redis.call('PUBLISH', KEYS[4], ARGV[3])\n"
    "tidy(KEYS[1], KEYS[2], KEYS[3], ARGV[2], ARGV[4])\n"
    "return 0\n";

/* KEYS: room hash, room seq, old node's room set, new node's room set,
 * room channel. ARGV: id, old node, new node, message prefix, room. */
const char ihd_lua_move[] = LUA_LIB
    "local v = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if not v or node_of(v) ~= ARGV[2] then return -3 end\n"
    "redis.call('HSET', KEYS[1], ARGV[1], seq_of(v) .. ' ' .. ARGV[3])\n"
    "redis.call('SADD', KEYS[4], ARGV[5])\n"
    "tidy(KEYS[1], KEYS[2], KEYS[3], ARGV[2], ARGV[5])\n"
    "redis.call('PUBLISH', KEYS[5], ARGV[4] .. ',\"s\":' .. seq_of(v) .. ',\"m\":' ..\n"
    "  members(KEYS[1]) .. '}')\n"
    "return 0\n";

/* KEYS: room hash, room seq, node's room set, room channel.
 * ARGV: node, message prefix, room, then the node's member ids. Ids held
 * by another node stay theirs (the hub evicts its own). */
const char ihd_lua_sync[] = LUA_LIB
    "local want = {}\n"
    "for i = 4, #ARGV do want[ARGV[i]] = true end\n"
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "for i = 1, #all, 2 do\n"
    "  if node_of(all[i + 1]) == ARGV[1] and not want[all[i]] then\n"
    "    redis.call('HDEL', KEYS[1], all[i])\n"
    "  end\n"
    "  want[all[i]] = nil\n"
    "end\n"
    "for i = 4, #ARGV do\n"
    "  if want[ARGV[i]] then\n"
    "    redis.call('HSET', KEYS[1], ARGV[i], redis.call('INCR', KEYS[2]) .. ' ' .. ARGV[1])\n"
    "    want[ARGV[i]] = nil\n"
    "  end\n"
    "end\n"
    "if has_node(KEYS[1], ARGV[1]) then redis.call('SADD', KEYS[3], ARGV[3])\n"
    "else redis.call('SREM', KEYS[3], ARGV[3]) end\n"
    "redis.call('PUBLISH', KEYS[4], ARGV[2] .. ',\"m\":' .. members(KEYS[1]) .. '}')\n"
    "if redis.call('HLEN', KEYS[1]) == 0 then redis.call('DEL', KEYS[1], KEYS[2]) end\n"
    "return 0\n";

/* KEYS: node's room set. ARGV: node, prefix, then the rooms to keep. */
const char ihd_lua_prune[] = LUA_LIB
    "local keep = {}\n"
    "for i = 3, #ARGV do keep[ARGV[i]] = true end\n"
    "for _, room in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  if not keep[room] then\n"
    "    drop(ARGV[2], room, ARGV[1], 'closed')\n"
    "    redis.call('SREM', KEYS[1], room)\n"
    "  end\n"
    "end\n"
    "return 0\n";

/* KEYS: the node's heartbeat key, its room set. ARGV: node, prefix.
 * While the key lives, answers its remaining milliseconds. */
const char ihd_lua_reap[] = LUA_LIB
    "local ttl = redis.call('PTTL', KEYS[1])\n"
    "if ttl ~= -2 then return ttl > 0 and ttl or 1000 end\n"
    "for _, room in ipairs(redis.call('SMEMBERS', KEYS[2])) do\n"
    "  drop(ARGV[2], room, ARGV[1], 'timeout')\n"
    "end\n"
    "redis.call('DEL', KEYS[2])\n"
    "return 0\n";

/* KEYS: heartbeat key, cluster channel. ARGV: heartbeat JSON, TTL in ms.
 * Also the goodbye (ARGV[2] = 0): the key goes, the node's members
 * leave (KEYS[3]: its room set; ARGV[3]: node; ARGV[4]: prefix). */
const char ihd_lua_beat[] = LUA_LIB
    "if ARGV[2] == '0' then\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  for _, room in ipairs(redis.call('SMEMBERS', KEYS[3])) do\n"
    "    drop(ARGV[4], room, ARGV[3], 'closed')\n"
    "  end\n"
    "  redis.call('DEL', KEYS[3])\n"
    "else\n"
    "  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "end\n"
    "redis.call('PUBLISH', KEYS[2], ARGV[1])\n"
    "return 0\n";

/* KEYS: total hash, node hash, batch counter, cluster channel.
 * ARGV: node, period start, expiry (Unix s), the batch as JSON, then
 * (field, delta) pairs. Answers the batch's number. */
const char ihd_lua_usage_add[] =
    "for i = 5, #ARGV, 2 do\n"
    "  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])\n"
    "  redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1])\n"
    "end\n"
    "local seq = redis.call('INCR', KEYS[3])\n"
    "for k = 1, 3 do redis.call('EXPIREAT', KEYS[k], ARGV[3]) end\n"
    "redis.call('PUBLISH', KEYS[4], '{\"k\":\"usage\",\"n\":\"' .. ARGV[1] .. '\",\"s\":' ..\n"
    "  seq .. ',\"p\":' .. ARGV[2] .. '}\\n' .. ARGV[4])\n"
    "return seq\n";

/* KEYS: total hash, node hash, batch counter. Answers {counter, totals,
 * the node's share}, one consistent moment. */
const char ihd_lua_usage_snap[] =
    "return {tonumber(redis.call('GET', KEYS[3]) or '0'), redis.call('HGETALL', KEYS[1]),\n"
    "  redis.call('HGETALL', KEYS[2])}\n";

/* KEYS: revocation hash, cluster channel. ARGV: user, record, message.
 * Without a record (ARGV[2] empty): answers every record. */
const char ihd_lua_revoke[] =
    "if ARGV[2] == '' then return redis.call('HGETALL', KEYS[1]) end\n"
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])\n"
    "redis.call('PUBLISH', KEYS[2], ARGV[3])\n"
    "return 0\n";
