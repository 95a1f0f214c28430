-- The worker's server-side steps. Every function takes the protocol version as ARGV[1] and
-- refuses another one. Entries come back to the worker in one of three shapes:
--   {id, {name, value, ...}}   the entry, fields as they are
--   {id, bytes, fields}        a stub: the entry is over the size or field-count limit, so
--                              its bytes never cross the wire (it is dead-lettered by ID)
--   {id, false}                deleted while pending (history reads only)
-- Claimed and history rows add {delivery count, failed attempts, interruptions}.

local function check_protocol(name, args)
  if tonumber(args[1]) ~= VERSION then
    return redis.error_reply('ERR ' .. name .. ': caller speaks protocol ' .. tostring(args[1]) ..
      ', the loaded library ' .. VERSION .. '; reload it (python -m ingest.admission load)')
  end
  return nil
end

-- Replaces, in place, an entry over `max_bytes` (names and values) or `max_fields` by a stub.
local function stub_if_large(entry, max_bytes, max_fields)
  local fields = entry[2]
  if not fields then
    return entry
  end
  local count = #fields / 2
  local bytes = 0
  for i = 1, #fields do
    bytes = bytes + #fields[i]
  end
  if bytes > max_bytes or count > max_fields then
    entry[2] = bytes
    entry[3] = count
  end
  return entry
end

-- Appends the delivery history of `entry` (read or claimed by `consumer`): the PEL's delivery
-- count and the attempts record's failed attempts and interruptions.
local function with_history(keys, group, consumer, entry)
  local id = entry[1]
  local row = redis.call('XPENDING', keys[1], group, id, id, 1, consumer)[1]
  local record = redis.call('HMGET', keys[2], id, id .. ':i')
  if entry[3] == nil then
    entry[3] = 0
  end
  entry[4] = row and row[4] or 0
  entry[5] = tonumber(record[1] or 0)
  entry[6] = tonumber(record[2] or 0)
  return entry
end

local function limits(args, at)
  return tonumber(args[at]), tonumber(args[at + 1])
end

-- FCALL ingest_read 1 <stream> <protocol> <group> <consumer> <count> <max_bytes> <max_fields>
-- New entries (XREADGROUP ... >, never blocking); [] when there are none.
local function read_new(keys, args)
  local refused = check_protocol('ingest_read', args)
  if refused then
    return refused
  end
  local reply = redis.call('XREADGROUP', 'GROUP', args[2], args[3], 'COUNT', args[4],
    'STREAMS', keys[1], '>')
  if not reply then
    return {}
  end
  local max_bytes, max_fields = limits(args, 5)
  local entries = reply[1][2]
  for i = 1, #entries do
    stub_if_large(entries[i], max_bytes, max_fields)
  end
  return entries
end

-- FCALL ingest_history 2 <stream> <attempts> <protocol> <group> <consumer> <start> <count>
--   <max_bytes> <max_fields>
-- This consumer's own pending entries after <start> (XREADGROUP ... <start>), with history.
local function read_history(keys, args)
  local refused = check_protocol('ingest_history', args)
  if refused then
    return refused
  end
  local group, consumer = args[2], args[3]
  local reply = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', args[5],
    'STREAMS', keys[1], args[4])
  if not reply or not reply[1] then
    return {}
  end
  local max_bytes, max_fields = limits(args, 6)
  local entries = reply[1][2]
  for i = 1, #entries do
    with_history(keys, group, consumer, stub_if_large(entries[i], max_bytes, max_fields))
  end
  return entries
end

-- FCALL ingest_claim 2 <stream> <attempts> <protocol> <group> <consumer> <min_idle_ms>
--   <cursor> <count> <max_bytes> <max_fields>
-- One XAUTOCLAIM page: {next cursor, claimed rows with history, deleted IDs}.
local function claim(keys, args)
  local refused = check_protocol('ingest_claim', args)
  if refused then
    return refused
  end
  local group, consumer = args[2], args[3]
  local reply = redis.call('XAUTOCLAIM', keys[1], group, consumer, args[4], args[5],
    'COUNT', args[6])
  local max_bytes, max_fields = limits(args, 7)
  local entries = reply[2]
  for i = 1, #entries do
    with_history(keys, group, consumer, stub_if_large(entries[i], max_bytes, max_fields))
  end
  return {reply[1], entries, reply[3] or {}}
end

-- FCALL ingest_takeover 3 <stream> <attempts> <dead consumer's liveness key> <protocol>
--   <group> <dead consumer> <consumer> <count> <max_bytes> <max_fields>
-- Claims up to <count> pending entries of a consumer whose liveness key is gone, whatever
-- their idle time, in one step with the check (a restarted process could retake the name
-- between a separate check and claim). Reply: {-1} while the key exists, else
-- {more (0|1), claimed rows with history, IDs no longer in the stream}.
local function takeover(keys, args)
  local refused = check_protocol('ingest_takeover', args)
  if refused then
    return refused
  end
  if redis.call('EXISTS', keys[3]) == 1 then
    return {-1}
  end
  local group, dead, consumer, count = args[2], args[3], args[4], tonumber(args[5])
  local rows = redis.call('XPENDING', keys[1], group, '-', '+', count, dead)
  if #rows == 0 then
    return {0, {}, {}}
  end
  local ids = {}
  for i, row in ipairs(rows) do
    ids[i] = row[1]
  end
  local entries = redis.call('XCLAIM', keys[1], group, consumer, 0, unpack(ids))
  local found, max_bytes, max_fields = {}, limits(args, 6)
  for i = 1, #entries do
    found[entries[i][1]] = true
    with_history(keys, group, consumer, stub_if_large(entries[i], max_bytes, max_fields))
  end
  local missing = {}
  for _, id in ipairs(ids) do
    if not found[id] then
      missing[#missing + 1] = id
    end
  end
  return {#rows == count and 1 or 0, entries, missing}
end

-- Netstrings (https://cr.yp.to/proto/netstrings.txt), binary-safe: "<length>:<bytes>,".
local function netstrings(items)
  local parts = {}
  for i = 1, #items do
    parts[i] = #items[i] .. ':' .. items[i] .. ','
  end
  return table.concat(parts)
end

-- Original fields as they are when few enough and none is named dead_*; else packed whole
-- into dead_original.
local function dead_copy(fields, max_fields)
  if #fields / 2 <= max_fields then
    local clash = false
    for i = 1, #fields, 2 do
      if string.sub(fields[i], 1, 5) == 'dead_' then
        clash = true
        break
      end
    end
    if not clash then
      local copy = {}
      for i = 1, #fields do
        copy[i] = fields[i]
      end
      return copy
    end
  end
  return {'dead_original', netstrings(fields)}
end

local DEAD_BOUND = 3000 -- fields copied as they are at most (Lua's unpack takes ~8000 values)

-- One letter: the copy (server-side XRANGE), then the acknowledgement, then the record.
-- Returns the new dead-letter ID, '' when the entry is no longer pending to this consumer,
-- '-' when it was deleted from the stream (only acknowledged).
local function move_one(keys, group, consumer, bound, at_ms, letter)
  local id = letter[1]
  if #redis.call('XPENDING', keys[1], group, id, id, 1, consumer) == 0 then
    return ''
  end
  local found = redis.call('XRANGE', keys[1], id, id)
  local dead_id = '-'
  if found[1] then
    local copy = dead_copy(found[1][2], bound)
    local extra = {'dead_reason', letter[2], 'dead_error_type', letter[3], 'dead_error', letter[4],
      'dead_entry_id', id, 'dead_stream', keys[1], 'dead_group', group,
      'dead_consumer', consumer, 'dead_delivery_count', letter[5],
      'dead_failed_attempts', letter[6], 'dead_at_ms', at_ms}
    for i = 1, #extra do
      copy[#copy + 1] = extra[i]
    end
    dead_id = redis.call('XADD', keys[2], '*', unpack(copy))
  end
  redis.call('XACK', keys[1], group, id)
  redis.call('HDEL', keys[3], id, id .. ':i')
  return dead_id
end

-- FCALL ingest_dead_letter 3 <stream> <dead-letter stream> <attempts> <protocol> <group>
--   <consumer> <max_fields> <at_ms> {<id> <reason> <error type> <error> <delivery count>
--   <failed attempts>}*
local function dead_letter(keys, args)
  local refused = check_protocol('ingest_dead_letter', args)
  if refused then
    return refused
  end
  local group, consumer, at_ms = args[2], args[3], args[5]
  local bound = math.min(tonumber(args[4]), DEAD_BOUND)
  if (#args - 5) % 6 ~= 0 then
    return redis.error_reply('ERR ingest_dead_letter: malformed arguments')
  end
  local out = {}
  for i = 6, #args, 6 do
    local letter = {args[i], args[i + 1], args[i + 2], args[i + 3], args[i + 4], args[i + 5]}
    out[#out + 1] = move_one(keys, group, consumer, bound, at_ms, letter)
  end
  return out
end

-- The IDs of ARGV[from..] still pending to `consumer`, and those that are not.
local function split_mine(keys, group, consumer, args, from)
  local mine, gone = {}, {}
  for i = from, #args do
    local row = redis.call('XPENDING', keys[1], group, args[i], args[i], 1, consumer)
    if #row == 1 then
      mine[#mine + 1] = args[i]
    else
      gone[#gone + 1] = args[i]
    end
  end
  return mine, gone
end

-- FCALL ingest_refresh 1 <stream> <protocol> <group> <consumer> <id>...
-- Resets the idle time of the entries still pending to <consumer> (XCLAIM ... JUSTID: no
-- delivery count); returns the IDs that are not (claimed elsewhere or acknowledged).
local function refresh(keys, args)
  local refused = check_protocol('ingest_refresh', args)
  if refused then
    return refused
  end
  local mine, gone = split_mine(keys, args[2], args[3], args, 4)
  if #mine > 0 then
    mine[#mine + 1] = 'JUSTID'
    redis.call('XCLAIM', keys[1], args[2], args[3], 0, unpack(mine))
  end
  return gone
end

-- FCALL ingest_release 2 <stream> <attempts> <protocol> <group> <consumer> <idle_ms>
--   <interrupted 0|1> <id>...
-- Hands back the entries still pending to <consumer>: idle time <idle_ms> (above any
-- min-idle, so any sweep claims them at once), and with <interrupted> 1 one more
-- interruption each in the attempts record (a delivery we ended, not a crash). Returns how
-- many were released.
local function release(keys, args)
  local refused = check_protocol('ingest_release', args)
  if refused then
    return refused
  end
  local group, consumer = args[2], args[3]
  local mine = split_mine(keys, group, consumer, args, 6)
  if #mine == 0 then
    return 0
  end
  local claim = {'XCLAIM', keys[1], group, consumer, 0}
  for i = 1, #mine do
    claim[#claim + 1] = mine[i]
  end
  claim[#claim + 1] = 'IDLE'
  claim[#claim + 1] = args[4]
  claim[#claim + 1] = 'JUSTID'
  redis.call(unpack(claim))
  if args[5] == '1' then
    for i = 1, #mine do
      redis.call('HINCRBY', keys[2], mine[i] .. ':i', 1)
    end
  end
  return #mine
end

-- FCALL ingest_prune 2 <stream> <liveness key> <protocol> <group> <consumer> <idle_ms>
-- Deletes the consumer only if it has no pending entries, has been idle at least <idle_ms>
-- and has no liveness key, in one step (between a check and a separate DELCONSUMER it could
-- read entries, which DELCONSUMER would drop from the PEL). Returns 1 when deleted.
local function prune(keys, args)
  local refused = check_protocol('ingest_prune', args)
  if refused then
    return refused
  end
  for _, row in ipairs(redis.call('XINFO', 'CONSUMERS', keys[1], args[2])) do
    local info = as_map(row)
    if info['name'] == args[3] then
      if info['pending'] == 0 and info['idle'] >= tonumber(args[4])
         and redis.call('EXISTS', keys[2]) == 0 then
        redis.call('XGROUP', 'DELCONSUMER', keys[1], args[2], args[3])
        return 1
      end
      return 0
    end
  end
  return 0
end

redis.register_function('ingest_read', read_new)
redis.register_function('ingest_history', read_history)
redis.register_function('ingest_claim', claim)
redis.register_function('ingest_takeover', takeover)
redis.register_function('ingest_dead_letter', dead_letter)
redis.register_function('ingest_refresh', refresh)
redis.register_function('ingest_release', release)
redis.register_function('ingest_prune', prune)
