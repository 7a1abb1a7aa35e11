"""The Lua scripts of the shared queue (``chat/redis_queue.py``): the decisions that must be
atomic across processes (admission, the round-robin dispatch of free slots, joining and leaving
the queue), each one round trip."""

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
  for _, m in ipairs(redis.call('SMEMBERS', key)) do
    if not alive(prefix, m) then redis.call('SREM', key, m) end
  end
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

# KEYS: q:users, q:bg, granted, slots:<server>... ARGV: prefix, capacity, channel
# Grants free slots to waiting tickets, users first in round-robin order; when a user waits and
# no slot is free, asks a background holder to give its slot back.
_DISPATCH_BODY = """
local prefix, capacity, channel = ARGV[1], tonumber(ARGV[2]), ARGV[3]
for _, t in ipairs(redis.call('HKEYS', KEYS[3])) do
  if not alive(prefix, t) then redis.call('HDEL', KEYS[3], t) end
end
local servers = {}
for i = 4, #KEYS do
  purge_set(prefix, KEYS[i])
  servers[#servers + 1] = KEYS[i]
end
local function free_slot()
  for _, key in ipairs(servers) do
    if redis.call('SCARD', key) < capacity then return key end
  end
  return nil
end
local function next_user_ticket()
  while redis.call('LLEN', KEYS[1]) > 0 do
    local user = redis.call('LINDEX', KEYS[1], 0)
    local ukey = prefix .. 'q:u:' .. user
    local ticket = redis.call('LPOP', ukey)
    if redis.call('LLEN', ukey) == 0 then
      redis.call('LPOP', KEYS[1])
    else
      redis.call('LMOVE', KEYS[1], KEYS[1], 'LEFT', 'RIGHT')
    end
    if ticket and alive(prefix, ticket) then return ticket end
  end
  return nil
end
local function next_background_ticket()
  while true do
    local ticket = redis.call('LPOP', KEYS[2])
    if not ticket then return nil end
    if alive(prefix, ticket) then return ticket end
  end
end
local granted = 0
while true do
  local slot = free_slot()
  if not slot then break end
  local ticket = next_user_ticket()
  if not ticket then ticket = next_background_ticket() end
  if not ticket then break end
  redis.call('SADD', slot, ticket)
  redis.call('HSET', KEYS[3], ticket, string.sub(slot, #prefix + 7))
  granted = granted + 1
end
if granted > 0 then redis.call('PUBLISH', channel, 'grant') end
if redis.call('LLEN', KEYS[1]) > 0 and not free_slot() then
  for _, key in ipairs(servers) do
    for _, m in ipairs(redis.call('SMEMBERS', key)) do
      if string.find(m, '|b|', 1, true) then
        redis.call('PUBLISH', channel, 'preempt ' .. m)
        return granted
      end
    end
  end
end
return granted
"""
DISPATCH = _LUA_ALIVE + _DISPATCH_BODY

# DISPATCH's KEYS and ARGV, then ARGV: user ('' for background), ticket
# Queues the ticket and runs DISPATCH (unchanged: the same rules decide) in the same round
# trip; returns the server when the ticket got a slot at once (its grant taken back here), else
# false: the ticket waits, and its place is announced.
ENQUEUE_AND_DISPATCH = (
    _LUA_ALIVE
    + """
local user, ticket = ARGV[#ARGV - 1], ARGV[#ARGV]
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
dispatch()
local server = redis.call('HGET', KEYS[3], ticket)
if server then
  redis.call('HDEL', KEYS[3], ticket)
  return server
end
if user ~= '' then redis.call('PUBLISH', ARGV[3], 'queue') end
return false
"""
)

# KEYS: q:users, q:u:<user> (or q:bg twice), granted, slots:<server>... ARGV: user ('' for
# background), ticket, channel
# Takes the ticket out of the queue and gives back the slot it was granted meanwhile (even when
# ENQUEUE_AND_DISPATCH took the grant back as the caller was cancelled): returns 1 when it gave
# one back (the caller dispatches it), else tells the others that the queue changed, 0.
WITHDRAW = """
redis.call('LREM', KEYS[2], 0, ARGV[2])
if ARGV[1] ~= '' and redis.call('LLEN', KEYS[2]) == 0 then
  redis.call('LREM', KEYS[1], 0, ARGV[1])
end
redis.call('HDEL', KEYS[3], ARGV[2])
for i = 4, #KEYS do
  if redis.call('SREM', KEYS[i], ARGV[2]) == 1 then return 1 end
end
redis.call('PUBLISH', ARGV[3], 'queue')
return 0
"""
