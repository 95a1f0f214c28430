#!lua name=ingest
-- The `ingest` Redis Functions library (Redis >= 7.0, Valkey >= 7.2), assembled by
-- ingest.library from the files of ingest/lua/ in this order: common.lua (this file: the
-- version and helpers every part uses), admission.lua (the producer's atomic admission),
-- worker.lua (the worker's server-side steps), meta.lua (ingest_version). One Lua chunk: a
-- `local` here is visible in the files after it.
-- Only Redis 7.0 commands; replies arrive in RESP2 shape (XINFO GROUPS rows are flat arrays,
-- a nil lag arrives as false).

local VERSION = 4

-- Entry IDs are compared as decimal strings, never as Lua numbers: those are doubles, exact only
-- up to 2^53, and an ms or seq part may reach 2^64-1.
local MAX_ID = '18446744073709551615-18446744073709551615'

local function split_id(id)
  local dash = string.find(id, '-', 1, true)
  if not dash then
    return id, '0'
  end
  return string.sub(id, 1, dash - 1), string.sub(id, dash + 1)
end

-- Canonical decimals (no sign, no leading zeros, as Redis replies): the shorter is smaller.
local function dec_lt(a, b)
  if #a ~= #b then
    return #a < #b
  end
  return a < b
end

local function id_lt(a, b)
  local am, as = split_id(a)
  local bm, bs = split_id(b)
  if am ~= bm then
    return dec_lt(am, bm)
  end
  return dec_lt(as, bs)
end

-- Up to `count` entries after `id` (exclusive); none after the largest possible ID, which
-- XRANGE refuses as an exclusive start.
local function entries_after(key, id, count)
  if id == MAX_ID then
    return {}
  end
  return redis.call('XRANGE', key, '(' .. id, '+', 'COUNT', count)
end

local function as_map(flat)
  local map = {}
  for i = 1, #flat, 2 do
    map[flat[i]] = flat[i + 1]
  end
  return map
end

