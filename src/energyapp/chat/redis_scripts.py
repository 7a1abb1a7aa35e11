"""The Lua scripts of the shared queue (``chat/redis_queue.py``) and of the cap on open streams
(``chat/redis_watchers.py``): the decisions that must be atomic across processes (admission,
the round-robin dispatch of free slots, joining and leaving the queue, opening a stream), each
one round trip."""

# Redis's clock in milliseconds: the same for every process, so waits and holds compare.
_LUA_CLOCK = """
local function clock_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# Shared by the scripts: a member counts only while its process's lease exists (looked up once
# per process and script run: the sets hold many members of few processes).
_LUA_ALIVE = """
local leases = {}
local function alive(prefix, member)
  local proc = string.match(member, '^([^|]+)|')
  if proc == nil then return false end
  if leases[proc] == nil then
    leases[proc] = redis.call('EXISTS', prefix .. 'lease:' .. proc) == 1
  end
  return leases[proc]
end
local function purge_set(prefix, key)
  local live = {}
  for _, m in ipairs(redis.call('SMEMBERS', key)) do
    if alive(prefix, m) then live[m] = true else redis.call('SREM', key, m) end
  end
  return live
end
"""

# KEYS: admitted, adm:<user>, slots:<server>... ARGV: prefix, member, max_per_user, max_queue
ADMIT = (
    _LUA_ALIVE
    + """
local prefix = ARGV[1]
purge_set(prefix, KEYS[1])
purge_set(prefix, KEYS[2])
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 1 end
local running = 0
for i = 3, #KEYS do
  purge_set(prefix, KEYS[i])
  for _, m in ipairs(redis.call('SMEMBERS', KEYS[i])) do
    if string.find(m, '|u|', 1, true) then running = running + 1 end
  end
end
if redis.call('SCARD', KEYS[1]) - running >= tonumber(ARGV[4]) then return 2 end
redis.call('SADD', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[2])
return 0
"""
)

# Slot-affine dispatch (chat/slots.py has the same rules in Python, and their reasons).
# KEYS: q:users, q:bg, granted, tinfo, slots:<server>...
# ARGV: prefix, capacity, channel, hold (ms)
# Grants free slots to waiting tickets: users first (a ticket whose conversation sits in an idle
# slot before the round-robin head, unless someone waited `hold`; the head never evicts a slot
# held for its conversation's reader while its server is busy), background work only on the slot
# that holds its conversation. Each server's slots ("lines", hash lines:<server>, field i =
# holder TAB idle-since-ms TAB conversation) follow what Ollama's caches hold; a holder that is
# no longer in the server's slot set gave its slot back (or died): the line is idle from now.
# When a user waits and no slot is free, asks a background holder to give its slot back.
# Returns {granted, ms until the next dispatch is worth running or -1}.
_DISPATCH_BODY = r"""
local prefix, capacity, channel = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local hold = tonumber(ARGV[4])
local now = clock_ms()
for _, t in ipairs(redis.call('HKEYS', KEYS[3])) do
  if not alive(prefix, t) then redis.call('HDEL', KEYS[3], t) end
end
local servers = {}
for i = 5, #KEYS do
  local holders = purge_set(prefix, KEYS[i])
  local name = string.sub(KEYS[i], #prefix + 7)
  local s = {skey = KEYS[i], name = name, lkey = prefix .. 'lines:' .. name, lines = {}}
  local stored = {}
  local flat = redis.call('HGETALL', s.lkey)
  for j = 1, #flat, 2 do stored[flat[j]] = flat[j + 1] end
  for j = 1, capacity do
    local line = {holder = '', idle = 0, key = ''}
    local v = stored[tostring(j)]
    if v then
      local h, idle, key = string.match(v, '^([^\t]*)\t([^\t]*)\t(.*)$')
      line = {holder = h, idle = tonumber(idle), key = key}
    end
    if line.holder ~= '' and not holders[line.holder] then
      line.holder, line.idle, s.dirty = '', now, true
    end
    s.lines[j] = line
  end
  servers[#servers + 1] = s
end
local function free_servers()
  local out = {}
  for _, s in ipairs(servers) do
    if redis.call('SCARD', s.skey) < capacity then out[#out + 1] = s end
  end
  return out
end
local function holding(key, list)
  if key == '' then return nil end
  for _, s in ipairs(list) do
    for _, ln in ipairs(s.lines) do
      if ln.holder == '' and ln.key == key then return s end
    end
  end
  return nil
end
local function victim(s)
  local best = nil
  for _, ln in ipairs(s.lines) do
    if ln.holder == '' and (best == nil or ln.idle < best.idle) then best = ln end
  end
  return best
end
local function evictable(s)
  local v = victim(s)
  if v == nil then return false end
  if v.key == '' or now - v.idle >= hold then return true end
  local idle, busy = 0, 0
  for _, ln in ipairs(s.lines) do
    if ln.holder == '' then idle = idle + 1 else busy = busy + 1 end
  end
  return idle > 1 or busy == 0
end
local function best_victim(list)
  local best, at = nil, nil
  for _, s in ipairs(list) do
    local v = victim(s)
    if v and (at == nil or v.idle < at) then best, at = s, v.idle end
  end
  return best
end
local function info(ticket)
  local v = redis.call('HGET', KEYS[4], ticket)
  if not v then return 0, '' end  -- lost (a restarted Redis): as if it had waited long
  local since, key = string.match(v, '^([^\t]*)\t(.*)$')
  return tonumber(since), key
end
local function grant(ticket, s, key)
  redis.call('SADD', s.skey, ticket)
  redis.call('HSET', KEYS[3], ticket, s.name)
  redis.call('HDEL', KEYS[4], ticket)
  local line = nil
  if key ~= '' then
    for _, ln in ipairs(s.lines) do
      if ln.holder == '' and ln.key == key then line = ln; break end
    end
  end
  line = line or victim(s)
  if line then line.holder, line.key, s.dirty = ticket, key, true end
end
local function fair_order()
  local queues = {}
  for _, user in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
    local ukey = prefix .. 'q:u:' .. user
    local live = {}
    for _, t in ipairs(redis.call('LRANGE', ukey, 0, -1)) do
      if alive(prefix, t) then
        live[#live + 1] = t
      else
        redis.call('LREM', ukey, 0, t)
        redis.call('HDEL', KEYS[4], t)
      end
    end
    if #live == 0 then redis.call('LREM', KEYS[1], 0, user) end
    queues[#queues + 1] = {user = user, tickets = live}
  end
  local order, depth = {}, 1
  while true do
    local more = false
    for _, q in ipairs(queues) do
      local t = q.tickets[depth]
      if t then
        more = true
        local since, key = info(t)
        order[#order + 1] = {ticket = t, user = q.user, since = since, key = key}
      end
    end
    if not more then break end
    depth = depth + 1
  end
  return order
end
local function serve_background(free)
  for _, t in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
    if not alive(prefix, t) then
      redis.call('LREM', KEYS[2], 0, t)
      redis.call('HDEL', KEYS[4], t)
    else
      local _, key = info(t)
      local s = free[1]
      if key ~= '' then s = holding(key, free) end
      if s then
        redis.call('LREM', KEYS[2], 1, t)
        grant(t, s, key)
        return true
      end
    end
  end
  return false
end
local granted, wake = 0, -1
while true do
  local free = free_servers()
  if #free == 0 then break end
  local order = fair_order()
  if #order == 0 then
    if not serve_background(free) then break end
    granted = granted + 1
  else
    local overdue = false
    for _, e in ipairs(order) do
      if now - e.since >= hold then overdue = true; break end
    end
    local chosen, s = nil, nil
    if not overdue then
      for _, e in ipairs(order) do
        s = holding(e.key, free)
        if s then chosen = e; break end
      end
    end
    if not chosen then
      s = holding(order[1].key, free)
      if not s then
        local candidates = free
        if not overdue then
          candidates = {}
          for _, f in ipairs(free) do
            if evictable(f) then candidates[#candidates + 1] = f end
          end
        end
        s = best_victim(candidates)
      end
      if s then chosen = order[1] end
    end
    if not chosen then
      local at = nil
      for _, e in ipairs(order) do
        if e.since + hold > now and (at == nil or e.since + hold < at) then at = e.since + hold end
      end
      for _, f in ipairs(free) do
        local v = victim(f)
        if v and v.key ~= '' and v.idle + hold > now and (at == nil or v.idle + hold < at) then
          at = v.idle + hold
        end
      end
      if at then wake = at - now end
      break
    end
    local ukey = prefix .. 'q:u:' .. chosen.user
    redis.call('LREM', ukey, 1, chosen.ticket)
    redis.call('LREM', KEYS[1], 0, chosen.user)
    if redis.call('LLEN', ukey) > 0 then redis.call('RPUSH', KEYS[1], chosen.user) end
    grant(chosen.ticket, s, chosen.key)
    granted = granted + 1
  end
end
for _, s in ipairs(servers) do
  if s.dirty then
    local fields = {}
    for j, ln in ipairs(s.lines) do
      fields[#fields + 1] = tostring(j)
      fields[#fields + 1] = ln.holder .. '\t' .. ln.idle .. '\t' .. ln.key
    end
    redis.call('HSET', s.lkey, unpack(fields))
  end
end
if granted > 0 then redis.call('PUBLISH', channel, 'grant') end
if redis.call('LLEN', KEYS[1]) > 0 and #free_servers() == 0 then
  for _, s in ipairs(servers) do
    for _, m in ipairs(redis.call('SMEMBERS', s.skey)) do
      if string.find(m, '|b|', 1, true) then
        redis.call('PUBLISH', channel, 'preempt ' .. m)
        return {granted, wake}
      end
    end
  end
end
return {granted, wake}
"""
DISPATCH = _LUA_CLOCK + _LUA_ALIVE + _DISPATCH_BODY

# DISPATCH's KEYS and ARGV, then ARGV: conversation ('' for none), user ('' for background),
# ticket. Queues the ticket (its wait starts now, on Redis's clock, the same for every process)
# and runs DISPATCH in the same round trip; returns {the server when the ticket got a slot at
# once (its grant taken back here) or false, DISPATCH's wake-up in ms or -1}. A ticket that
# waits has its place announced.
ENQUEUE_AND_DISPATCH = (
    _LUA_CLOCK
    + _LUA_ALIVE
    + r"""
local affinity, user, ticket = ARGV[#ARGV - 2], ARGV[#ARGV - 1], ARGV[#ARGV]
redis.call('HSET', KEYS[4], ticket, clock_ms() .. '\t' .. affinity)
local queue = KEYS[2]
if user ~= '' then
  queue = ARGV[1] .. 'q:u:' .. user
  redis.call('RPUSH', queue, ticket)
  if redis.call('LLEN', queue) == 1 then redis.call('RPUSH', KEYS[1], user) end
else
  redis.call('RPUSH', queue, ticket)
end
local function dispatch()
"""
    + _DISPATCH_BODY
    + """
end
local result = dispatch()
local server = redis.call('HGET', KEYS[3], ticket)
if server then
  redis.call('HDEL', KEYS[3], ticket)
  return {server, result[2]}
end
if user ~= '' then redis.call('PUBLISH', ARGV[3], 'queue') end
return {false, result[2]}
"""
)

# KEYS: slots:<server>, lines:<server>, q:users, q:bg ARGV: ticket
# Gives the slot back and marks the slot's line idle from now (the hold counts from the end of
# the answer); returns whether anyone waits (then the caller dispatches).
RELEASE = (
    _LUA_CLOCK
    + r"""
redis.call('SREM', KEYS[1], ARGV[1])
local now = clock_ms()
local flat = redis.call('HGETALL', KEYS[2])
for j = 1, #flat, 2 do
  local h, key = string.match(flat[j + 1], '^([^\t]*)\t[^\t]*\t(.*)$')
  if h == ARGV[1] then
    redis.call('HSET', KEYS[2], flat[j], '\t' .. now .. '\t' .. key)
    break
  end
end
return redis.call('LLEN', KEYS[3]) + redis.call('LLEN', KEYS[4])
"""
)

# KEYS: q:users, q:u:<user> (or q:bg twice), granted, tinfo, slots:<server>... ARGV: user (''
# for background), ticket, channel
# Takes the ticket out of the queue and gives back the slot it was granted meanwhile (even when
# ENQUEUE_AND_DISPATCH took the grant back as the caller was cancelled): returns 1 when it gave
# one back (the caller dispatches it), else tells the others that the queue changed, 0.
WITHDRAW = """
redis.call('HDEL', KEYS[4], ARGV[2])
redis.call('LREM', KEYS[2], 0, ARGV[2])
if ARGV[1] ~= '' and redis.call('LLEN', KEYS[2]) == 0 then
  redis.call('LREM', KEYS[1], 0, ARGV[1])
end
redis.call('HDEL', KEYS[3], ARGV[2])
for i = 5, #KEYS do
  if redis.call('SREM', KEYS[i], ARGV[2]) == 1 then return 1 end
end
redis.call('PUBLISH', ARGV[3], 'queue')
return 0
"""

# KEYS: watch:<user>  ARGV: prefix, member, limit
# One more open stream of the user unless the live ones (of processes whose lease exists) reach
# the limit: 1 refused, 0 counted.
OPEN_WATCH = (
    _LUA_ALIVE
    + """
purge_set(ARGV[1], KEYS[1])
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 1 end
redis.call('SADD', KEYS[1], ARGV[2])
return 0
"""
)

# The crash recovery's view of the answers' owners, at one instant: KEYS[1] the owner hash
# (answer -> process), ARGV[1] the prefix. Returns {answers whose owner's lease exists, answers
# whose owner's lease is gone}.
OWNERS = (
    _LUA_ALIVE
    + """
local live, stale = {}, {}
local owners = redis.call('HGETALL', KEYS[1])
for i = 1, #owners, 2 do
  if alive(ARGV[1], owners[i + 1] .. '|') then
    table.insert(live, owners[i])
  else
    table.insert(stale, owners[i])
  end
end
return {live, stale}
"""
)
