-- Atomic admission of a batch of entries into a capped stream; called with
--   FCALL ingest_admit <numkeys> <stream> [<producer key>] <protocol> <maxlen> <limit> <no_group>
--         <seq> <ttl_ms> <n> {<nfields> <k> <v>...}*n
-- numkeys is 2 with a producer key (idempotent batches, see `repeated`), else 1 (seq, ttl_ms 0).
-- Reply: {admitted 0|1, backlog, xlen, reason, group, lag_source, first_id|false, last_id|false,
--         repairs, note}
--   reason: ok | repeat (this batch was admitted before: its IDs again, nothing appended) |
--   high-water (backlog > limit) | cap (no room without trimming an unacknowledged entry).
--   repairs: flat {group, redis lag, undelivered, repaired 0|1} per stale lag counter seen.
--   note: '' or 'no-idempotence' (this user may not GET/SET the producer key).
--   Nothing is appended unless the whole batch is.

-- Most entries read on either side of a group's last-delivered ID (ingest.backlog.PROBE).
local PROBE = 100

-- How many entries are at or before `id`, counting up to `count`; `count` when this user may
-- not XREVRANGE (the rule then answers with a lower bound, as when there are that many).
local function count_upto(key, id, count)
  local reply = redis.pcall('XREVRANGE', key, id, '-', 'COUNT', count)
  if reply['err'] then
    return count
  end
  return #reply
end

-- Entries not yet delivered to one group: the rule of ingest/backlog.py (its docstring says
-- why), step for step. Returns count, source, stale (Redis' lag proven wrong).
local function group_lag(key, group, xlen, first_id)
  local lag = group['lag'] -- false when nil; 0 is true in Lua
  local last = group['last-delivered-id']
  local function result(count, source)
    if (source == 'counted' or source == 'caught-up') and lag and count == lag then
      source = 'redis'
    end
    return count, source, (lag and lag ~= count) or false
  end
  if xlen == 0 then
    return result(0, 'empty')
  end
  if id_lt(last, first_id) then
    return result(xlen, 'before-first')
  end
  local wanted = PROBE
  if lag then
    wanted = math.min(lag + 1, PROBE)
  end
  local after = #entries_after(key, last, wanted)
  if after < wanted then
    if after == 0 then
      return result(0, 'caught-up')
    end
    return result(after, 'counted')
  end
  if lag and lag >= after then
    return math.min(lag, xlen), 'redis', lag > xlen
  end
  local before = count_upto(key, last, PROBE)
  if before < PROBE then
    return result(xlen - before, 'counted')
  end
  return after, 'counted-bound', lag and true or false
end

local EXACT = {['empty'] = true, ['before-first'] = true, ['caught-up'] = true, ['counted'] = true}

-- Sets a stale lag counter right (ingest.backlog.repaired_entries_read): same position, the
-- ENTRIESREAD that makes Redis' lag equal the count. A user without +xgroup|setid keeps the
-- stale counter (the rule above does not need it); the reply says so.
local function repair(key, group, count, source, repairs)
  local lag, read = group['lag'], group['entries-read']
  if not (lag and read and EXACT[source]) or lag == count then
    return
  end
  local reply = redis.pcall('XGROUP', 'SETID', key, group['name'], group['last-delivered-id'],
    'ENTRIESREAD', string.format('%d', read + lag - count))
  local done = 1
  if type(reply) == 'table' and reply['err'] then
    done = 0
  end
  local n = #repairs
  repairs[n + 1], repairs[n + 2], repairs[n + 3], repairs[n + 4] = group['name'], lag, count, done
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

-- ARGV from `first` on holds n entries as {nfields k v ...}; false when malformed.
local function check_entries(args, first, n)
  local pos = first
  for _ = 1, n do
    local nfields = tonumber(args[pos])
    if not nfields or nfields < 1 then
      return false
    end
    pos = pos + 1 + 2 * nfields
  end
  return pos == #args + 1
end

-- Idempotent batches (the model is Kafka's idempotent producer; Redis 8.6's XADD IDMP does
-- this natively): each producer numbers its batches and keeps the number when it re-sends one
-- after a lost reply. Its key (in the stream's hash slot, with a TTL) holds the last batch
-- admitted, "<seq> <first id> <last id>"; a repeat of it gets those IDs again instead of a
-- second copy. Returns the reply for a repeat (or an error), else nil and a note: '' or
-- 'no-idempotence' when this user may not GET the key (NOPERM: then re-sends may duplicate).
local function repeated(pkey, seq, xlen)
  local seen = redis.pcall('GET', pkey)
  if type(seen) == 'table' and seen['err'] then
    return nil, 'no-idempotence'
  end
  if not seen then
    return nil, ''
  end
  local last_seq, first, last = string.match(seen, '^(%d+) (%S+) (%S+)$')
  if last_seq == nil or tonumber(last_seq) < seq then
    return nil, ''
  end
  if tonumber(last_seq) > seq then
    return redis.error_reply('ERR ingest_admit: batch ' .. seq .. ' is older than batch ' ..
      last_seq .. ', already admitted for this producer'), ''
  end
  return {1, 0, xlen, 'repeat', '', '', first, last, {}, ''}, ''
end

-- Remembers the batch just admitted (see `repeated`); a note as `repeated` returns.
local function remember(pkey, seq, first, last, ttl_ms)
  local reply = redis.pcall('SET', pkey, seq .. ' ' .. first .. ' ' .. last, 'PX', ttl_ms)
  if type(reply) == 'table' and reply['err'] then
    return 'no-idempotence'
  end
  return ''
end

-- The first entry's ID; '0-0' for an empty stream.
local function first_entry_id(key, xlen)
  if xlen == 0 then
    return '0-0'
  end
  return redis.call('XRANGE', key, '-', '+', 'COUNT', 1)[1][1]
end

-- The largest group backlog (or the no-group rule), its group and lag source; repairs stale
-- lag counters on the way.
local function stream_backlog(key, xlen, groups, no_group, repairs)
  local backlog, worst, how = 0, '', 'no-group'
  if #groups == 0 then
    if no_group == 'block' then
      backlog = xlen
    end
    return backlog, worst, how
  end
  local first_id = first_entry_id(key, xlen)
  for _, group in ipairs(groups) do
    local count, source, stale = group_lag(key, group, xlen, first_id)
    if stale then
      repair(key, group, count, source, repairs)
    end
    local b = count + group['pending']
    if worst == '' or b > backlog then
      backlog, worst, how = b, group['name'], source
    end
  end
  return backlog, worst, how
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
  local key, pkey = keys[1], keys[2]
  if tonumber(args[1]) ~= VERSION then
    return redis.error_reply('ERR ingest_admit: caller speaks protocol ' .. tostring(args[1]) ..
      ', the loaded library ' .. VERSION .. '; reload it (python -m ingest.admission load)')
  end
  local maxlen, limit, no_group = tonumber(args[2]), tonumber(args[3]), args[4]
  local seq, ttl_ms, n = tonumber(args[5]), tonumber(args[6]), tonumber(args[7])
  if not (maxlen and limit and seq and ttl_ms and n) or not check_entries(args, 8, n) then
    return redis.error_reply('ERR ingest_admit: malformed arguments')
  end
  local xlen = redis.call('XLEN', key)
  local note = ''
  if pkey then
    local seen
    seen, note = repeated(pkey, seq, xlen)
    if seen then
      return seen
    end
  end
  local repairs = {}
  local groups = read_groups(key, xlen)
  local backlog, worst, how = stream_backlog(key, xlen, groups, no_group, repairs)
  if backlog > limit then
    return {0, backlog, xlen, 'high-water', worst, how, false, false, repairs, note}
  end
  xlen = make_room(key, groups, xlen, n, maxlen, no_group)
  if xlen + n > maxlen then
    return {0, backlog, xlen, 'cap', worst, how, false, false, repairs, note}
  end
  local pos, first, last = 8, false, false
  for i = 1, n do
    local nfields = tonumber(args[pos])
    last = redis.call('XADD', key, '*', unpack(args, pos + 1, pos + 2 * nfields))
    if i == 1 then
      first = last
    end
    pos = pos + 1 + 2 * nfields
  end
  if pkey and n > 0 and note == '' then
    note = remember(pkey, args[5], first, last, args[6])
  end
  return {1, backlog, xlen + n, 'ok', worst, how, first, last, repairs, note}
end

-- Every group's undelivered entries by the rule above, repairing stale counters when
-- <repair> is 1:  FCALL ingest_backlog 1 <stream> <protocol> <repair 0|1>
-- Reply: {xlen, {name, undelivered, source, pending, stale 0|1}*, repairs}
local function backlog(keys, args)
  local key = keys[1]
  if tonumber(args[1]) ~= VERSION then
    return redis.error_reply('ERR ingest_backlog: caller speaks protocol ' ..
      tostring(args[1]) .. ', the loaded library ' .. VERSION)
  end
  local xlen = redis.call('XLEN', key)
  local groups = read_groups(key, xlen)
  local first_id = first_entry_id(key, xlen)
  local rows, repairs = {}, {}
  for _, group in ipairs(groups) do
    local count, source, stale = group_lag(key, group, xlen, first_id)
    if stale and args[2] == '1' then
      repair(key, group, count, source, repairs)
    end
    rows[#rows + 1] = {group['name'], count, source, group['pending'], stale and 1 or 0}
  end
  return {xlen, rows, repairs}
end

redis.register_function('ingest_admit', admit)
redis.register_function('ingest_backlog', backlog)
