-- Atomic admission of a batch of entries into a capped stream; called with
--   FCALL ingest_admit 1 <stream> <protocol> <maxlen> <limit> <no_group> <n> {<nfields> <k> <v>...}*n
-- Reply: {admitted 0|1, backlog, xlen, reason, group, lag_source, first_id|false, last_id|false}
--   reason: ok | high-water (backlog > limit) | cap (no room without trimming an unacknowledged
--   entry). Nothing is appended unless the whole batch is.

-- Backlog of one group = lag + pending; lag is never taken as 0 when Redis cannot tell.
local function group_backlog(key, group, xlen, first_id, limit)
  local pending = group['pending']
  local last = group['last-delivered-id']
  local lag = group['lag']
  if xlen == 0 then
    return pending, 'empty'
  end
  if id_lt(last, first_id) then
    -- Every entry is past the group's position: also right after an XTRIM made lag stale.
    return xlen + pending, 'before-first'
  end
  if lag then
    return math.min(lag, xlen) + pending, 'redis'
  end
  -- Lag is nil (an XDEL ahead of the group): count, but only as far as the decision needs.
  local bound = math.max(limit - pending + 1, 1)
  local ahead = entries_after(key, last, bound)
  return #ahead + pending, 'counted'
end

local function read_groups(key, xlen)
  local groups = {}
  if xlen == 0 and redis.call('EXISTS', key) == 0 then
    return groups
  end
  for _, row in ipairs(redis.call('XINFO', 'GROUPS', key)) do
    groups[#groups + 1] = as_map(row)
  end
  return groups
end

-- The oldest entry one group still needs: its first undelivered entry (the entry after its
-- last-delivered ID, read rather than computed) or its oldest pending entry; nil when the
-- group has delivered and acknowledged every entry.
local function group_floor(key, group)
  local floor = nil
  local after = entries_after(key, group['last-delivered-id'], 1)
  if after[1] then
    floor = after[1][1]
  end
  if group['pending'] > 0 then
    local oldest = redis.call('XPENDING', key, group['name'])[2]
    if oldest and (floor == nil or id_lt(oldest, floor)) then
      floor = oldest
    end
  end
  return floor
end

-- Entries below this ID are acknowledged by every group: neither pending nor undelivered.
-- nil when no group needs any entry (all delivered and acknowledged).
local function safe_min_id(key, groups)
  local safe = nil
  for _, group in ipairs(groups) do
    local floor = group_floor(key, group)
    if floor and (safe == nil or id_lt(floor, safe)) then
      safe = floor
    end
  end
  return safe
end

local function check_entries(args, n)
  local pos = 6
  for _ = 1, n do
    local nfields = tonumber(args[pos])
    if not nfields or nfields < 1 then
      return false
    end
    pos = pos + 1 + 2 * nfields
  end
  return pos == #args + 1
end

-- Makes room for n entries by trimming only acknowledged entries; returns the new XLEN.
local function make_room(key, groups, xlen, n, maxlen, no_group)
  if xlen + n <= maxlen then
    return xlen
  end
  if #groups == 0 then
    if no_group == 'trim' then
      redis.call('XTRIM', key, 'MAXLEN', math.max(maxlen - n, 0))
    end
    return redis.call('XLEN', key)
  end
  local safe = safe_min_id(key, groups)
  if safe == nil then
    -- Every entry is acknowledged by every group: any of them may go.
    redis.call('XTRIM', key, 'MAXLEN', math.max(maxlen - n, 0))
    return redis.call('XLEN', key)
  end
  -- Whole macro nodes first (cheap, at most 100 nodes' worth), exact only when still short.
  redis.call('XTRIM', key, 'MINID', '~', safe)
  xlen = redis.call('XLEN', key)
  if xlen + n > maxlen then
    redis.call('XTRIM', key, 'MINID', safe)
    xlen = redis.call('XLEN', key)
  end
  return xlen
end

local function admit(keys, args)
  local key = keys[1]
  if tonumber(args[1]) ~= VERSION then
    return redis.error_reply('ERR ingest_admit: caller speaks protocol ' .. tostring(args[1]) ..
      ', the loaded library ' .. VERSION .. '; reload it (python -m ingest.admission load)')
  end
  local maxlen, limit, no_group, n = tonumber(args[2]), tonumber(args[3]), args[4], tonumber(args[5])
  if not (maxlen and limit and n) or not check_entries(args, n) then
    return redis.error_reply('ERR ingest_admit: malformed arguments')
  end
  local xlen = redis.call('XLEN', key)
  local groups = read_groups(key, xlen)
  local backlog, worst, how = 0, '', 'no-group'
  if #groups == 0 then
    if no_group == 'block' then
      backlog = xlen
    end
  else
    local first_id = '0-0'
    if xlen > 0 then
      first_id = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)[1][1]
    end
    for _, group in ipairs(groups) do
      local b, source = group_backlog(key, group, xlen, first_id, limit)
      if worst == '' or b > backlog then
        backlog, worst, how = b, group['name'], source
      end
    end
  end
  if backlog > limit then
    return {0, backlog, xlen, 'high-water', worst, how, false, false}
  end
  xlen = make_room(key, groups, xlen, n, maxlen, no_group)
  if xlen + n > maxlen then
    return {0, backlog, xlen, 'cap', worst, how, false, false}
  end
  local pos, first, last = 6, false, false
  for i = 1, n do
    local nfields = tonumber(args[pos])
    last = redis.call('XADD', key, '*', unpack(args, pos + 1, pos + 2 * nfields))
    if i == 1 then
      first = last
    end
    pos = pos + 1 + 2 * nfields
  end
  return {1, backlog, xlen + n, 'ok', worst, how, first, last}
end

redis.register_function('ingest_admit', admit)
