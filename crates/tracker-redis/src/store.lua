-- The tracker's state in Redis: one script, so every operation is atomic (Redis runs a script
-- to its end before anything else) and checks everything before it writes anything, so an
-- error never leaves half an operation behind. Called as EVALSHA sha 0 OP PREFIX ARGS...
-- Key layout (PREFIX is weaprous:tracker:):
--   peer:<id>            hash name ip port ttl roles meta token load key source proof_ts (the
--                        ts of the last key proof used); PEXPIRE ttl: Redis itself expires a
--                        silent peer, with every tracker stopped
--   peer:<id>:channels   set of channel names
--   peers                zset id -> deadline (ms, Redis clock): counts, the sweep, and when
--                        the peer was last seen (deadline - ttl), so a heartbeat writes no
--                        more than its deadline
--   peer-ids             zset id -> 0: every peer id in id order, for pages of the list
--   channel:<name>       hash policy (open|key) key (SHA-256 hex of the key, or empty)
--   channel:<name>:ids   zset peer id -> 0: the members in id order
--   channel-names        zset name -> 0: channel names in order
--   peer-index           hash id -> JSON [source, "ip:port", name]: where the peer is
--                        indexed (kept past the peer's expiry, so the sweep can clear the
--                        indexes below)
--   source:<ip>          set of the peer ids registered from that source address, for
--                        --max-peers-per-ip (loopback is exempt and not kept)
--   by-addr              hash ip:port -> the peer id registered there last (course clients
--                        name a peer by ip and port)
--   by-name:<name>       set of the peer ids with that name (an unnamed peer goes by its id,
--                        and is in no set)
--   proof:<hash>         peer id, for 10 s: a token-less call from the peer's registered source
--                        address, proven by `credential`; the next call presents the proof
--                        (whose SHA-256 this is) as its token, once
--   stats                hash registrations heartbeats removals expirations
--   peer:<id>:files      set of file ids the peer holds chunks of
--   file:<fid>           hash name size chunk_size count hashes (the chunk hashes' hex, joined)
--   file:<fid>:holders   hash peer id -> the name that peer gave the file
--   file:<fid>:chunks:<id>  bitmap of the chunks that peer has (bit i = chunk i)
--   file-ids             zset file id -> 0: file ids in order
-- The zsets scored 0 are ordered indexes: a page is one ZRANGEBYLEX after its cursor.
-- Views skip a member whose peer hash has expired; the sweep (any tracker, every second)
-- removes what an expired peer left in the sets.

local op = ARGV[1]
local P = ARGV[2]
local MAX_CHANNELS = 32

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function peer_key(id) return P .. 'peer:' .. id end

local function err(code, msg) return {'err', code, msg} end

local function drop_channel_member(id, ch)
  local m = P .. 'channel:' .. ch .. ':ids'
  redis.call('ZREM', m, id)
  if redis.call('ZCARD', m) == 0 then
    redis.call('DEL', P .. 'channel:' .. ch)
    redis.call('ZREM', P .. 'channel-names', ch)
  end
end

local function file_key(fid) return P .. 'file:' .. fid end

local function drop_holder(id, fid)
  local fk = file_key(fid)
  redis.call('HDEL', fk .. ':holders', id)
  redis.call('DEL', fk .. ':chunks:' .. id)
  if redis.call('HLEN', fk .. ':holders') == 0 then
    redis.call('DEL', fk)
    redis.call('ZREM', P .. 'file-ids', fid)
  end
end

local function address(ip, port)
  if string.find(ip, ':', 1, true) then return '[' .. ip .. ']:' .. port end
  return ip .. ':' .. port
end

-- Indexes the peer `id` by its source, its address and its name (an unnamed peer goes by its
-- id, which needs no index).
local function index_peer(id, source, ip, port, name, per_ip)
  local addr = address(ip, port)
  redis.call('HSET', P .. 'peer-index', id, cjson.encode({source, addr, name}))
  redis.call('HSET', P .. 'by-addr', addr, id)
  if name ~= '' then redis.call('SADD', P .. 'by-name:' .. name, id) end
  if per_ip > 0 then redis.call('SADD', P .. 'source:' .. source, id) end
end

-- Moves `id` to the name index of `name` ('' for none).
local function rename(id, name)
  local ix = redis.call('HGET', P .. 'peer-index', id)
  if not ix then return end
  local f = cjson.decode(ix)
  if f[3] ~= '' then redis.call('SREM', P .. 'by-name:' .. f[3], id) end
  f[3] = name
  if name ~= '' then redis.call('SADD', P .. 'by-name:' .. name, id) end
  redis.call('HSET', P .. 'peer-index', id, cjson.encode(f))
end

local function unindex_peer(id)
  local ix = redis.call('HGET', P .. 'peer-index', id)
  if not ix then return end
  local f = cjson.decode(ix)
  redis.call('SREM', P .. 'source:' .. f[1], id)
  if redis.call('HGET', P .. 'by-addr', f[2]) == id then redis.call('HDEL', P .. 'by-addr', f[2]) end
  if f[3] ~= '' then redis.call('SREM', P .. 'by-name:' .. f[3], id) end
  redis.call('HDEL', P .. 'peer-index', id)
end

local function drop_peer(id)
  unindex_peer(id)
  local pc = peer_key(id) .. ':channels'
  for _, ch in ipairs(redis.call('SMEMBERS', pc)) do drop_channel_member(id, ch) end
  local pf = peer_key(id) .. ':files'
  for _, fid in ipairs(redis.call('SMEMBERS', pf)) do drop_holder(id, fid) end
  redis.call('DEL', peer_key(id), pc, pf)
  redis.call('ZREM', P .. 'peers', id)
  redis.call('ZREM', P .. 'peer-ids', id)
end

-- Holders of a file whose peer is still there.
local function live_holders(fid)
  local out = {}
  for _, id in ipairs(redis.call('HKEYS', file_key(fid) .. ':holders')) do
    if redis.call('EXISTS', peer_key(id)) == 1 then out[#out + 1] = id end
  end
  return out
end

local function not_in_index(fid) return err('404', 'file ' .. fid .. ' is not in the index') end

-- Whether `proof_hash` is a proof `credential` made for `id`; it is used up.
local function proven(id, proof_hash)
  local key = P .. 'proof:' .. proof_hash
  if redis.call('GET', key) ~= id then return false end
  redis.call('DEL', key)
  return true
end

-- nil, or the error of a missing peer or a bad token (404 before 403).
local function authed(id, token_hash)
  local stored = redis.call('HGET', peer_key(id), 'token')
  if not stored then return err('404', 'peer ' .. id .. ' is not registered') end
  if token_hash == '' then return err('403', 'missing token for peer ' .. id) end
  if stored ~= token_hash and not proven(id, token_hash) then
    return err('403', 'wrong token for peer ' .. id)
  end
  return nil
end

-- The live ids of the set `key`, in order.
local function live_ids(key)
  local out = {}
  for _, id in ipairs(redis.call('SMEMBERS', key)) do
    if redis.call('EXISTS', peer_key(id)) == 1 then out[#out + 1] = id end
  end
  table.sort(out)
  return out
end

-- The id of the peer a course client names by `kind` ('id', 'addr' as ip:port, or 'name'),
-- or nil and the error: unknown is a 404, a name several live peers share a 400.
local function resolve(kind, value)
  if kind == 'id' then return value end
  local missing = err('404', 'peer ' .. value .. ' is not registered')
  if kind == 'addr' then
    local id = redis.call('HGET', P .. 'by-addr', value)
    if not id or redis.call('EXISTS', peer_key(id)) == 0 then return nil, missing end
    return id
  end
  local ids = live_ids(P .. 'by-name:' .. value)
  -- An unnamed peer goes by its id.
  if redis.call('HGET', peer_key(value), 'name') == '' then ids[#ids + 1] = value end
  if #ids == 0 then return nil, missing end
  if #ids > 1 then
    return nil, err('400', #ids .. ' peers are named "' .. value .. '"; use peer_id')
  end
  return ids[1]
end

local function touch(id, now)
  local key = peer_key(id)
  local ttl = tonumber(redis.call('HGET', key, 'ttl'))
  redis.call('PEXPIRE', key, ttl * 1000)
  redis.call('ZADD', P .. 'peers', now + ttl * 1000, id)
  return ttl
end

-- The refusal a join of `ch` with `key_hash` would meet, checked before anything is written.
local function join_refusal(id, ch, key_hash)
  local pol = redis.call('HMGET', P .. 'channel:' .. ch, 'policy', 'key')
  if pol[1] == 'key' then
    if key_hash == '' then return err('403', 'channel ' .. ch .. ' needs a key') end
    if key_hash ~= pol[2] then return err('403', 'wrong key for channel ' .. ch) end
  end
  local pc = peer_key(id) .. ':channels'
  if redis.call('SISMEMBER', pc, ch) == 0 and redis.call('SCARD', pc) >= MAX_CHANNELS then
    return err('400', 'a peer may be in at most ' .. MAX_CHANNELS .. ' channels')
  end
  return nil
end

local function add_member(id, ch, key_hash)
  local ck = P .. 'channel:' .. ch
  if redis.call('EXISTS', ck) == 0 then
    redis.call('HSET', ck, 'policy', key_hash == '' and 'open' or 'key', 'key', key_hash)
    redis.call('ZADD', P .. 'channel-names', 0, ch)
  end
  redis.call('SADD', peer_key(id) .. ':channels', ch)
  redis.call('ZADD', ck .. ':ids', 0, id)
end

local function live_members(ch)
  local out = {}
  for _, id in ipairs(redis.call('ZRANGE', P .. 'channel:' .. ch .. ':ids', 0, -1)) do
    if redis.call('EXISTS', peer_key(id)) == 1 then out[#out + 1] = id end
  end
  return out
end

-- A peer's record: id name ip port roles meta seen load {channels} key, or nil once expired.
local function record(id)
  local f = redis.call('HMGET', peer_key(id), 'name', 'ip', 'port', 'roles', 'meta', 'ttl', 'load',
    'key')
  if not f[2] then return nil end
  local deadline = tonumber(redis.call('ZSCORE', P .. 'peers', id) or 0)
  local seen = deadline - tonumber(f[6]) * 1000
  return {id, f[1], f[2], f[3], f[4], f[5], seen, f[7],
          redis.call('SMEMBERS', peer_key(id) .. ':channels'), f[8] or ''}
end

-- One page of the ordered index `key` (a zset scored 0) after `after` ('' for the start):
-- `view(member)` gives an item and its weight, or nil to skip. Stops at `limit` items or once
-- the work (one per member examined, plus each item's weight) reaches `budget`, as the memory
-- store's pages do; returns the items and the cursor of the next page ('' at the end).
local function page(key, after, limit, budget, view)
  local items, work, cursor = {}, 0, after
  while true do
    local min = cursor == '' and '-' or '(' .. cursor
    local batch = redis.call('ZRANGEBYLEX', key, min, '+', 'LIMIT', 0, limit + 1)
    for i, m in ipairs(batch) do
      work = work + 1
      local item, weight = view(m)
      if item then
        items[#items + 1] = item
        work = work + weight
      end
      if #items >= limit or work >= budget then
        local more = batch[i + 1] or redis.call('ZRANGEBYLEX', key, '(' .. m, '+', 'LIMIT', 0, 1)[1]
        return items, more and m or ''
      end
      cursor = m
    end
    if #batch <= limit then return items, '' end
  end
end

-- Whether the roles JSON of a record lists `role` ('' matches every record).
local function has_role(roles, role)
  if role == '' then return true end
  for _, r in ipairs(cjson.decode(roles or '[]')) do
    if r == role then return true end
  end
  return false
end


-- The refusal a new registration of `id` from `source` meets once that address holds
-- `per_ip` live peers (0: no limit); ids whose peer expired leave the set here.
local function per_ip_refusal(id, source, per_ip)
  if per_ip == 0 then return nil end
  local set, held = P .. 'source:' .. source, 0
  for _, other in ipairs(redis.call('SMEMBERS', set)) do
    if redis.call('EXISTS', peer_key(other)) == 0 then
      -- Expired, not swept yet: what the sweep would do.
      drop_peer(other)
    elseif other ~= id then
      held = held + 1
    end
  end
  if held >= per_ip then
    return err('403', source .. ' already registered ' .. held .. ' peers (--max-peers-per-ip)')
  end
  return nil
end

if op == 'register' then
  -- id ip port name ttl roles meta new_token_hash presented_hash max_peers key source
  -- max_per_ip (0 for none) owner_source ('' when tokens are required) proof_key proof_ts
  -- channels...: a live peer id is taken over with its token, from the source it registered
  -- from, or with a key proof the tracker checked against proof_key, which must still be the
  -- peer's key, and proof_ts later than the last proof used (then it becomes the last)
  local id, ip, port, ttl = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[7])
  local now = now_ms()
  local old = redis.call('HMGET', peer_key(id), 'source', 'token', 'key', 'proof_ts')
  local proof_ts = '0'
  if old[2] then
    proof_ts = old[4] or '0'
    local by_key = ARGV[17] ~= '' and old[3] == ARGV[17] and tonumber(ARGV[18]) > tonumber(proof_ts)
    local by_source = ARGV[16] ~= '' and old[1] == ARGV[16]
    local by_token = ARGV[11] ~= '' and ARGV[11] == old[2]
    if by_key then
      proof_ts = ARGV[18]
    elseif not by_source and not by_token then
      return err('403', 'peer_id ' .. id .. ' is live and registered from another address; ' ..
        're-register from there, present its token, or sign with its key')
    end
  elseif redis.call('ZCOUNT', P .. 'peers', '(' .. now, '+inf') >= tonumber(ARGV[12]) then
    return err('full', '')
  end
  for i = 19, #ARGV do
    if redis.call('HGET', P .. 'channel:' .. ARGV[i], 'policy') == 'key' then
      return err('403', 'channel ' .. ARGV[i] .. ' needs a key; join it with its key')
    end
  end
  local source, per_ip = ARGV[14], tonumber(ARGV[15])
  local refused = per_ip_refusal(id, source, per_ip)
  if refused then return refused end
  drop_peer(id)
  index_peer(id, source, ip, port, ARGV[6], per_ip)
  redis.call('HSET', peer_key(id), 'name', ARGV[6], 'ip', ip, 'port', port, 'ttl', ttl,
    'roles', ARGV[8], 'meta', ARGV[9], 'token', ARGV[10], 'load', '', 'key', ARGV[13], 'source', source,
    'proof_ts', proof_ts)
  redis.call('PEXPIRE', peer_key(id), ttl * 1000)
  redis.call('ZADD', P .. 'peers', now + ttl * 1000, id)
  redis.call('ZADD', P .. 'peer-ids', 0, id)
  for i = 19, #ARGV do add_member(id, ARGV[i], '') end
  redis.call('HINCRBY', P .. 'stats', 'registrations', 1)
  return {'ok'}

elseif op == 'peer_key' then
  -- id: the key the live peer registered ('' for none) and the ts of its last key proof
  local f = redis.call('HMGET', peer_key(ARGV[3]), 'key', 'proof_ts')
  return {'ok', f[1] or '', f[2] or '0'}

elseif op == 'heartbeats' then
  -- id token_hash pairs, the heartbeats one tracker read in one loop turn: each peer checked
  -- and refreshed in turn; answers per peer its ttl, or 0 (not registered), -1 (no token),
  -- -2 (wrong token)
  local now, out, n, deadlines = now_ms(), {}, 0, {}
  -- Per TTL, its milliseconds and the deadline as strings, made once: turning a number into a
  -- string is a printf in Redis's Lua, and the peers of a batch mostly share one TTL.
  local times = {}
  for i = 3, #ARGV, 2 do
    local id, presented = ARGV[i], ARGV[i + 1]
    local key = peer_key(id)
    local f = redis.call('HMGET', key, 'token', 'ttl')
    local code
    if not f[1] then code = 0
    elseif presented == '' then code = -1
    elseif presented ~= f[1] and not proven(id, presented) then code = -2
    else
      code = tonumber(f[2])
      local t = times[f[2]]
      if not t then
        t = {string.format('%d', code * 1000), string.format('%d', now + code * 1000)}
        times[f[2]] = t
      end
      redis.call('PEXPIRE', key, t[1])
      deadlines[#deadlines + 1] = t[2]
      deadlines[#deadlines + 1] = id
      n = n + 1
      -- One ZADD per 256 peers: fewer calls, and well under Lua's limit on unpacked values.
      if #deadlines == 512 then
        redis.call('ZADD', P .. 'peers', unpack(deadlines))
        deadlines = {}
      end
    end
    out[#out + 1] = code
  end
  if #deadlines > 0 then redis.call('ZADD', P .. 'peers', unpack(deadlines)) end
  if n > 0 then redis.call('HINCRBY', P .. 'stats', 'heartbeats', n) end
  return {'ok', out}

elseif op == 'heartbeat_batch' then
  -- ttl|'' load|'' source|'' then id token_hash pairs; a token-less entry is the peer's own
  -- when the batch comes from the source it registered from (source is empty when tokens are
  -- required)
  local now, updated, not_found, forbidden = now_ms(), {}, {}, {}
  for i = 6, #ARGV, 2 do
    local id = ARGV[i]
    local refused = authed(id, ARGV[i + 1])
    if refused and refused[2] == '403' and ARGV[i + 1] == '' and ARGV[5] ~= ''
      and redis.call('HGET', peer_key(id), 'source') == ARGV[5] then
      refused = nil
    end
    if not refused then
      if ARGV[3] ~= '' then redis.call('HSET', peer_key(id), 'ttl', ARGV[3]) end
      if ARGV[4] ~= '' then redis.call('HSET', peer_key(id), 'load', ARGV[4]) end
      touch(id, now)
      updated[#updated + 1] = id
    elseif refused[2] == '404' then
      not_found[#not_found + 1] = id
    else
      forbidden[#forbidden + 1] = id
    end
  end
  redis.call('HINCRBY', P .. 'stats', 'heartbeats', #updated)
  return {'ok', updated, not_found, forbidden}

elseif op == 'update' then
  -- id token_hash then field value pairs
  local id = ARGV[3]
  local refused = authed(id, ARGV[4])
  if refused then return refused end
  for i = 5, #ARGV, 2 do
    if ARGV[i] == 'name' then rename(id, ARGV[i + 1]) end
    redis.call('HSET', peer_key(id), ARGV[i], ARGV[i + 1])
  end
  local now = now_ms()
  touch(id, now)
  return {'ok', now, record(id)}

elseif op == 'remove' then
  local id = ARGV[3]
  local refused = authed(id, ARGV[4])
  if refused and refused[2] == '404' then return {'ok'} end
  if refused then return refused end
  drop_peer(id)
  redis.call('HINCRBY', P .. 'stats', 'removals', 1)
  return {'ok'}

elseif op == 'join' then
  -- id token_hash channel key_hash
  local id, ch, key_hash = ARGV[3], ARGV[5], ARGV[6]
  local refused = authed(id, ARGV[4]) or join_refusal(id, ch, key_hash)
  if refused then return refused end
  add_member(id, ch, key_hash)
  touch(id, now_ms())
  return {'ok', live_members(ch)}

elseif op == 'leave' then
  local id, ch = ARGV[3], ARGV[5]
  local refused = authed(id, ARGV[4])
  if refused then return refused end
  if redis.call('SREM', peer_key(id) .. ':channels', ch) == 1 then drop_channel_member(id, ch) end
  touch(id, now_ms())
  return {'ok'}

elseif op == 'list' then
  -- channel|'' role|'' after|'' limit budget
  local now, ch, role = now_ms(), ARGV[3], ARGV[4]
  local index = ch == '' and P .. 'peer-ids' or P .. 'channel:' .. ch .. ':ids'
  local items, after = page(index, ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]), function(id)
    local r = record(id)
    if r and has_role(r[5], role) then return r, 0 end
    return nil
  end)
  return {'ok', now, after, items}

elseif op == 'lookup' then
  -- target: a peer id, else the one live peer with that name
  local r = record(ARGV[3])
  if not r then
    local id, refused = resolve('name', ARGV[3])
    if not id then return refused end
    r = record(id)
    if not r then return err('404', 'peer ' .. ARGV[3] .. ' is not registered') end
  end
  return {'ok', r[1], r[3], r[4]}

elseif op == 'credential' then
  -- kind value token_hash source proof_hash: the id of the peer named by kind and value, and
  -- whether the call is proven by its source (then proof:<proof_hash> is written). A presented
  -- token is checked by the call itself; a token-less call must come from the source address
  -- the peer registered from (source is empty when tokens are required).
  local id, refused = resolve(ARGV[3], ARGV[4])
  if not id then return refused end
  if ARGV[5] ~= '' then return {'ok', id, 0} end
  local f = redis.call('HMGET', peer_key(id), 'token', 'source')
  if not f[1] then return err('404', 'peer ' .. id .. ' is not registered') end
  if ARGV[6] == '' or f[2] ~= ARGV[6] then return err('403', 'missing token for peer ' .. id) end
  redis.call('SET', P .. 'proof:' .. ARGV[7], id, 'PX', 10000)
  return {'ok', id, 1}

elseif op == 'channels' then
  -- after|'' limit budget
  local items, after = page(P .. 'channel-names', ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]),
    function(ch)
      local members = live_members(ch)
      if #members == 0 then return nil end
      return {ch, redis.call('HGET', P .. 'channel:' .. ch, 'policy') or 'open', members}, #members
    end)
  return {'ok', after, items}

elseif op == 'stats' then
  local now = now_ms()
  local s = redis.call('HMGET', P .. 'stats', 'registrations', 'heartbeats', 'removals', 'expirations')
  return {'ok', redis.call('ZCOUNT', P .. 'peers', '(' .. now, '+inf'), redis.call('ZCARD', P .. 'channel-names'),
          redis.call('ZCARD', P .. 'file-ids'), s[1] or '0', s[2] or '0', s[3] or '0', s[4] or '0'}

elseif op == 'publish' then
  -- id token_hash name size chunk_size count file_id hashes max_files
  local id, name, fid = ARGV[3], ARGV[5], ARGV[9]
  local size, chunk_size, count = ARGV[6], ARGV[7], tonumber(ARGV[8])
  local refused = authed(id, ARGV[4])
  if refused then return refused end
  local pf = peer_key(id) .. ':files'
  for _, other in ipairs(redis.call('SMEMBERS', pf)) do
    if other ~= fid and redis.call('HGET', file_key(other) .. ':holders', id) == name then
      return err('409', 'peer ' .. id .. ' already shares another file named "' .. name .. '" (' .. other .. ')')
    end
  end
  local holds = redis.call('SISMEMBER', pf, fid) == 1
  if not holds and redis.call('SCARD', pf) >= tonumber(ARGV[11]) then
    return err('400', 'a peer may share at most ' .. ARGV[11] .. ' files')
  end
  local fk = file_key(fid)
  local known = redis.call('HMGET', fk, 'size', 'chunk_size')
  if known[1] and (known[1] ~= size or (known[2] ~= chunk_size and count > 1)) then
    return err('409', 'file ' .. fid .. ' is published with size ' .. known[1] .. ' and chunk size ' .. known[2])
  end
  if not known[1] then
    redis.call('HSET', fk, 'name', name, 'size', size, 'chunk_size', chunk_size, 'count', count, 'hashes', ARGV[10])
    redis.call('ZADD', P .. 'file-ids', 0, fid)
  end
  redis.call('HSET', fk .. ':holders', id, name)
  -- The publisher has every chunk: bits 0..count-1 set, high bit first as Redis counts them.
  local full = string.rep(string.char(255), math.floor(count / 8))
  if count % 8 > 0 then full = full .. string.char(256 - 2 ^ (8 - count % 8)) end
  redis.call('SET', fk .. ':chunks:' .. id, full)
  redis.call('SADD', pf, fid)
  touch(id, now_ms())
  return {'ok', count}

elseif op == 'add_chunks' then
  -- id token_hash file_id max_files then chunk indices
  local id, fid = ARGV[3], ARGV[5]
  local refused = authed(id, ARGV[4])
  if refused then return refused end
  local fk = file_key(fid)
  local f = redis.call('HMGET', fk, 'count', 'name')
  if not f[1] then return not_in_index(fid) end
  local count = tonumber(f[1])
  for i = 7, #ARGV do
    if tonumber(ARGV[i]) >= count then
      return err('400', 'chunk ' .. ARGV[i] .. ' out of range: file ' .. fid .. ' has ' .. count .. ' chunks')
    end
  end
  local pf = peer_key(id) .. ':files'
  local holds = redis.call('SISMEMBER', pf, fid) == 1
  if not holds and #ARGV < 7 then
    touch(id, now_ms())
    return {'ok', 0, count}
  end
  if not holds and redis.call('SCARD', pf) >= tonumber(ARGV[6]) then
    return err('400', 'a peer may share at most ' .. ARGV[6] .. ' files')
  end
  if not holds then
    redis.call('HSET', fk .. ':holders', id, f[2])
    redis.call('SADD', pf, fid)
  end
  local ck = fk .. ':chunks:' .. id
  for i = 7, #ARGV do redis.call('SETBIT', ck, tonumber(ARGV[i]), 1) end
  touch(id, now_ms())
  return {'ok', redis.call('BITCOUNT', ck), count}

elseif op == 'files' then
  -- after|'' limit budget
  local items, after = page(P .. 'file-ids', ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]),
    function(fid)
      local holders = live_holders(fid)
      if #holders == 0 then return nil end
      local f = redis.call('HMGET', file_key(fid), 'name', 'size', 'chunk_size', 'count')
      return {fid, f[1], f[2], f[3], f[4], holders}, #holders
    end)
  return {'ok', after, items}

elseif op == 'file' then
  local fid = ARGV[3]
  local fk = file_key(fid)
  local f = redis.call('HMGET', fk, 'name', 'size', 'chunk_size', 'count', 'hashes')
  if not f[1] then return not_in_index(fid) end
  local holders = {}
  for _, id in ipairs(live_holders(fid)) do
    local p = redis.call('HMGET', peer_key(id), 'ip', 'port')
    holders[#holders + 1] = {id, p[1], p[2], redis.call('GET', fk .. ':chunks:' .. id) or ''}
  end
  if #holders == 0 then return not_in_index(fid) end
  return {'ok', f[1], f[2], f[3], f[4], f[5], holders}

elseif op == 'peer_files' then
  local id = ARGV[3]
  if redis.call('EXISTS', peer_key(id)) == 0 then
    return err('404', 'peer ' .. id .. ' is not registered')
  end
  local out = {}
  for _, fid in ipairs(redis.call('SMEMBERS', peer_key(id) .. ':files')) do
    local fk = file_key(fid)
    local f = redis.call('HMGET', fk, 'size', 'chunk_size', 'count')
    local name = redis.call('HGET', fk .. ':holders', id)
    if f[1] and name then
      out[#out + 1] = {fid, name, f[1], f[2], f[3], redis.call('BITCOUNT', fk .. ':chunks:' .. id)}
    end
  end
  return {'ok', out}

elseif op == 'sweep' then
  -- limit: peers past their deadline leave every channel; their keys go
  local now = now_ms()
  local ids = redis.call('ZRANGEBYSCORE', P .. 'peers', '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
  for _, id in ipairs(ids) do drop_peer(id) end
  if #ids > 0 then redis.call('HINCRBY', P .. 'stats', 'expirations', #ids) end
  return {'ok', ids}
end

return err('400', 'unknown store operation ' .. tostring(op))
