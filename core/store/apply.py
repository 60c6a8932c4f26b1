"""Carrying out key write plans: one server-side script per chunk, field compare-and-set.

Each key is checked and written inside the script, so a write lands only on fields that still
hold their planned before-value; unrelated fields CRS changes meanwhile never conflict. A
resent chunk finds its fields already at their after-values and writes nothing twice.

CRS has no Redis Cluster support (docs/crs-layout.md, "No Redis Cluster"), so the script builds
index key names from its arguments instead of declaring every one in KEYS.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from keyops.core.schema import layout
from keyops.core.schema.writes import (
    INDEXED_FIELDS,
    LIFECYCLE,
    PLAN_INPUT_FIELDS,
    FieldWrite,
    Guard,
    KeyChange,
    KeyWritePlan,
    index_ops_for,
    plan_key_write,
)
from keyops.core.settings import socket_timeout_of
from keyops.core.store.key_table import read_current
from keyops.core.wire.raw_script import Arg, RawScript

APPLY_CHUNK = 500
# Chunks sent ahead of the one whose reply is read: Redis works while Python encodes.
PIPELINE_DEPTH = 1

# ARGV header:
#   1 ttl, 2 tags_all key, 3 lease key ('' = no lock), 4 lease token, 5 journal key ('' = none),
#   6 audit stream ('' = none), 7 op id, 8 audit event name,
#   9 '1' if a failed audit write must stop the chunk, 10 record key prefix ('apikey:')
# then templates: a count, and per template
#   n_fields, (field, mode) * n_fields, n_ops, (op, key, member) * n_ops,
#   n_guards, (field, guard mode) * n_guards
# then per key: key id, key id as JSON ('' = a plain id the script quotes itself), template
# number, per field (before, after, its journal piece as JSON) or for an unchecked field its
# after-value alone, then the value of each 'g' guard.
#
# Keys of one batch mostly undergo the same transition (same old tags -> same new tags), so a
# transition is sent once as a template and each key names it: three or four arguments a key
# instead of twenty, which is most of the cost on both sides. An index op member of "\0" means
# "this key's id".
# mode: 'b' expect `before`, 'n' expect the field absent, 'x' write without checking; in upper
# case ('B', 'N', 'X') the same check, then the field is deleted instead of set (exact rollback).
#
# Guards: a write is only right if every field its decision read still holds what the decision
# saw, not only the fields it writes. An enable decided while a key was live must not land
# after CRS soft-deleted it (CRS's auth ignores isDeleted, so the key would work again), and a
# binding decided while the partner Claude field was empty must not land once it is set. So
# each field the decision read but does not write is a guard: checked like a written field,
# never written or journaled; a mismatch answers `conflict:<field>` and the runner decides the
# key again on what it holds now. `isDeleted` is always one, so the index updates (set:active
# or set:deleted) follow the state at write time. `updatedAt` never is: CRS restamps it on
# every edit, and keyops reads it only to journal it. guard mode: 'a' expect the field absent,
# 'e' expect '' (CRS's empty binding or expiry), 'g' expect the key's own value (an argument
# of the key): the values the batch shares cost nothing per key.
#
# Pass 1 checks every key (no writes). A key whose checked fields all hold their after-values
# already (a resend, or CRS put a rollback's old values back) answers `already`: nothing is
# written, journaled or audited, but its index updates still run. They are idempotent, and
# the record may be right while the index is not: a CRS whole-hash rewrite that read the key
# before keyops wrote it puts the old tags back without touching the tag sets, so a rollback
# that found only `already` and did nothing would leave the key in the set of the tag keyops
# added. Then one audit entry lists every key about to be written;
# if it cannot be written under the `block` policy, nothing is. The entry is a plain XADD: a
# write never trims the stream (trimming is `keyops audit trim`, an audited command of its own),
# so no setting can make it fail. Pass 2 journals and writes. A Lua
# error after a write would not undo it, so nothing that can fail runs between writes unguarded.
# The lease check is the fence: a holder whose lock lapsed cannot write even one chunk.
APPLY_PLANS_LUA = """
local ttl = tonumber(ARGV[1])
local tags_all = ARGV[2]
local lease_key, lease_token = ARGV[3], ARGV[4]
local journal, stream = ARGV[5], ARGV[6]
local op_id, event, audit_required = ARGV[7], ARGV[8], ARGV[9] == '1'
local prefix = ARGV[10]
local BACKSLASH = string.char(92)
local SPECIAL = '[%c"' .. BACKSLASH .. ']'
local function json_string(value)
  if not value then return 'null' end
  if not string.find(value, SPECIAL) then return '"' .. value .. '"' end
  local escaped = string.gsub(value, SPECIAL, function(c)
    return string.format(BACKSLASH .. 'u%04x', string.byte(c))
  end)
  return '"' .. escaped .. '"'
end
-- True if any of the first n values is set (HMGET gives false for a missing field).
local function next_value(values, n)
  for v = 1, n do if values[v] then return true end end
  return false
end
-- The lifecycle pseudo-field (schema/lifecycle.py): the key's hash_map entry, legacy copy
-- and cost ranks. The hash is read from the record's own apiKey field and never leaves here.
local LIFECYCLE = '@lifecycle'
local RANKS = {'today', '7days', '30days', 'all'}
local function digest_of(key)
  local digest = redis.call('HGET', key, 'apiKey')
  if digest and digest ~= '' then return digest end
  return nil
end
-- What pass 1 read of a key's lifecycle state, so the write need not read it again.
local seen = {}
local function lifecycle_state(key, key_id)
  local digest, mapped, legacy = digest_of(key), 'false', 'null'
  local known = {digest = digest, mapped = false, copy_type = 'none', ranked = {}}
  seen[key_id] = known
  if digest then
    if redis.pcall('HGET', '@HASH_MAP@', digest) == key_id then
      mapped = 'true'
      known.mapped = true
    end
    local copy = 'apikey_hash:' .. digest
    known.copy_type = redis.call('TYPE', copy)['ok']
    if known.copy_type == 'hash' then
      local flat, names, by_name = redis.call('HGETALL', copy), {}, {}
      for n = 1, #flat, 2 do
        names[#names + 1] = flat[n]
        by_name[flat[n]] = flat[n + 1]
      end
      table.sort(names)
      local pieces = {}
      for _, name in ipairs(names) do
        pieces[#pieces + 1] = json_string(name) .. ':' .. json_string(by_name[name])
      end
      legacy = '{' .. table.concat(pieces, ',') .. '}'
    end
  end
  local ranks = {}
  for _, period in ipairs(RANKS) do
    local score = redis.pcall('ZSCORE', 'cost_rank:' .. period, key_id)
    if type(score) == 'string' then
      known.ranked[period] = true
      ranks[#ranks + 1] = json_string(period) .. ':' .. json_string(score)
    end
  end
  return '{"hash_map":' .. mapped .. ',"legacy":' .. legacy .. ',"ranks":{' ..
    table.concat(ranks, ',') .. '}}'
end
local function set_lifecycle(key, key_id, text)
  -- Written only after the record: nothing here may stop the script half way.
  local decoded, wanted = pcall(cjson.decode, text)
  if not decoded or type(wanted) ~= 'table' or type(wanted['ranks']) ~= 'table' then return end
  -- Pass 1 read the state of every written key, in this same script run.
  local known = seen[key_id]
  local digest = known.digest
  if digest then
    if wanted['hash_map'] == true then
      if not known.mapped then
        -- An entry another record holds under the same hash is not ours to take: its clients
        -- would be served as this key. One naming no record that holds this hash is stale.
        local holder = redis.pcall('HGET', '@HASH_MAP@', digest)
        if type(holder) ~= 'string'
            or redis.pcall('HGET', '@PREFIX@' .. holder, 'apiKey') ~= digest then
          redis.pcall('HSET', '@HASH_MAP@', digest, key_id)
        end
      end
    elseif known.mapped then
      -- Only this key's own entry: another id under the same hash is not ours to drop.
      redis.pcall('HDEL', '@HASH_MAP@', digest)
    end
    local copy = 'apikey_hash:' .. digest
    local copy_type = known.copy_type
    if copy_type == 'hash' then
      redis.pcall('DEL', copy)
      copy_type = 'none'
    end
    if type(wanted['legacy']) == 'table' and copy_type == 'none' then
      local args = {}
      for name, value in pairs(wanted['legacy']) do
        args[#args + 1] = name
        args[#args + 1] = value
      end
      if #args > 0 then redis.pcall('HSET', copy, unpack(args)) end
    end
  end
  for _, period in ipairs(RANKS) do
    local score = wanted['ranks'][period]
    if score then
      redis.pcall('ZADD', 'cost_rank:' .. period, score, key_id)
    elseif known.ranked[period] then
      redis.pcall('ZREM', 'cost_rank:' .. period, key_id)
    end
  end
end
if lease_key ~= '' and redis.call('GET', lease_key) ~= lease_token then
  return {'lock-lost'}
end
local templates = {}
local i = 12
for t = 1, tonumber(ARGV[11]) do
  local template = {fields = {}, ops = {}, names = {}, width = 0}
  local nfields = tonumber(ARGV[i])
  i = i + 1
  for f = 1, nfields do
    local mode = ARGV[i + 1]
    local lowered = string.lower(mode)
    -- A key sends before, after and its journal piece for a checked field; only the after
    -- value for an unchecked one (updatedAt), whose before the script reads itself.
    template.fields[f] = {name = ARGV[i], mode = lowered, delete = mode ~= lowered,
                          offset = template.width}
    template.width = template.width + (lowered == 'x' and 1 or 3)
    template.names[f] = ARGV[i]
    i = i + 2
  end
  local nops = tonumber(ARGV[i])
  i = i + 1
  for o = 1, nops do
    template.ops[o] = {ARGV[i], ARGV[i + 1], ARGV[i + 2]}
    i = i + 3
  end
  -- Guards follow the written fields in the one HMGET.
  template.nfields, template.guards = nfields, {}
  for g = 1, tonumber(ARGV[i]) do
    local mode = ARGV[i + 2]
    template.guards[g] = {name = ARGV[i + 1], mode = mode, offset = template.width}
    if mode == 'g' then template.width = template.width + 1 end
    template.names[nfields + g] = ARGV[i + 1]
    i = i + 2
  end
  i = i + 1
  templates[t] = template
end

local results, writes, entries, settled = {}, {}, {}, {}
while i <= #ARGV do
  local key_id, key_json, template = ARGV[i], ARGV[i + 1], templates[tonumber(ARGV[i + 2])]
  if key_json == '' then key_json = '"' .. key_id .. '"' end
  local values = i + 3
  i = values + template.width
  local key = prefix .. key_id
  local status = nil
  local checked, at_after = 0, 0
  -- One HMGET reads every field the template touches: the checked ones and updatedAt.
  local currents = redis.pcall('HMGET', key, unpack(template.names))
  if type(currents) == 'table' and currents['err'] then
    status = 'not-hash'
  elseif not next_value(currents, #template.names) and redis.call('EXISTS', key) == 0 then
    status = 'missing'
  else
    for f, field in ipairs(template.fields) do
      local before, after = ARGV[values + field.offset], ARGV[values + field.offset + 1]
      if field.mode ~= 'x' then
        local current = currents[f]
        checked = checked + 1
        if (field.delete and not current) or (not field.delete and current == after) then
          at_after = at_after + 1
        elseif not ((field.mode == 'b' and current == before) or (field.mode == 'n' and not current)) then
          status = 'conflict:' .. field.name
          break
        end
      end
    end
    if not status then
      for g, guard in ipairs(template.guards) do
        local current, held = currents[template.nfields + g], nil
        if guard.mode == 'a' then held = not current
        elseif guard.mode == 'e' then held = current == ''
        else held = current == ARGV[values + guard.offset] end
        if not held then
          status = 'conflict:' .. guard.name
          break
        end
      end
    end
  end
  if not status and checked > 0 and at_after == checked then
    status = 'already'
    settled[#settled + 1] = {#results + 1, key_id, template}
  end
  if not status then
    local pieces = {}
    for f, field in ipairs(template.fields) do
      local piece
      if field.mode ~= 'x' then
        piece = ARGV[values + field.offset + 2]
      else
        -- An unchecked field (updatedAt): its before-value is whatever the key holds now,
        -- read here so the journal keeps the true value for an exact rollback.
        local after = ARGV[values + field.offset]
        if field.delete then after = nil end
        local before = currents[f]
        if field.name == LIFECYCLE then before = lifecycle_state(key, key_id) end
        piece = json_string(field.name) .. ':[' .. json_string(before) .. ',' .. json_string(after) .. ']'
      end
      pieces[f] = piece
    end
    local entry = '{"key":' .. key_json .. ',"changes":{' .. table.concat(pieces, ',') .. '}}'
    writes[#writes + 1] = {#results + 1, key, key_id, entry, template, values}
    entries[#entries + 1] = entry
    status = 'applied'
  end
  results[#results + 1] = status
end
if #writes == 0 and #settled == 0 then return results end

local audit_error = nil
if #writes > 0 and stream ~= '' then
  local listing = '[' .. table.concat(entries, ',') .. ']'
  local reply = redis.pcall('XADD', stream, '*', 'op', op_id, 'event', event, 'keys', listing)
  if type(reply) == 'table' and reply['err'] then audit_error = reply['err'] end
end
if audit_error and audit_required then
  for _, w in ipairs(writes) do results[w[1]] = 'audit-failed:' .. audit_error end
  return results
end

-- Index updates are grouped by target set: one SADD of many members per tag set and chunk
-- instead of one call per key (the same end state, a fraction of the calls).
local grouped, order = {}, {}
local function add(op, target, member, position)
  local id = op .. '\0' .. target
  local group = grouped[id]
  if not group then
    group = {op = op, target = target, members = {}, positions = {}}
    grouped[id] = group
    order[#order + 1] = id
  end
  group.members[#group.members + 1] = member
  group.positions[#group.positions + 1] = position
end
-- A key's index updates from its template; a member of "\0" stands for the key's id.
local function add_template_ops(template, key_id, position)
  for _, op in ipairs(template.ops) do
    local member = op[3]
    if member == '\0' then member = key_id end
    add(op[1], op[2], member, position)
  end
end
local journal_args = {}
for _, w in ipairs(writes) do
  local position, key, key_id, entry, template, values = w[1], w[2], w[3], w[4], w[5], w[6]
  journal_args[#journal_args + 1] = key_id
  journal_args[#journal_args + 1] = entry
  local args, lifecycle = {}, nil
  for f, field in ipairs(template.fields) do
    if field.name == LIFECYCLE then
      lifecycle = ARGV[values + field.offset]
    elseif field.delete then
      redis.call('HDEL', key, field.name)
    else
      args[#args + 1] = field.name
      args[#args + 1] = ARGV[values + field.offset + (field.mode == 'x' and 0 or 1)]
    end
  end
  if #args > 0 then redis.call('HSET', key, unpack(args)) end
  redis.call('EXPIRE', key, ttl)
  if lifecycle then set_lifecycle(key, key_id, lifecycle) end
  add_template_ops(template, key_id, position)
end
-- Nothing written for these, but their index updates run (see `already` above).
for _, k in ipairs(settled) do
  add_template_ops(k[3], k[2], k[1])
end
-- Resends and re-applies write the same entry again, so a plain HSET keeps the journal right.
if journal ~= '' and #journal_args > 0 then redis.call('HSET', journal, unpack(journal_args)) end
for _, phase in ipairs({'srem', 'sadd', 'zrem', 'zadd', 'prune', 'status'}) do
  for _, id in ipairs(order) do
    local group = grouped[id]
    if group.op == phase then
      local reply
      if phase == 'sadd' then reply = redis.pcall('SADD', group.target, unpack(group.members))
      elseif phase == 'srem' then reply = redis.pcall('SREM', group.target, unpack(group.members))
      elseif phase == 'zrem' then reply = redis.pcall('ZREM', group.target, unpack(group.members))
      elseif phase == 'zadd' then
        local scored = {}
        for _, member in ipairs(group.members) do
          scored[#scored + 1] = 0
          scored[#scored + 1] = member
        end
        reply = redis.pcall('ZADD', group.target, unpack(scored))
      elseif phase == 'status' then
        -- CRS's updateIndex for a delete or restore, from the state the record is in now:
        -- members sorted by where they belong, then one call per set and direction.
        local moves = {{'SADD', '@SET_DELETED@', {}}, {'SREM', '@SET_ACTIVE@', {}},
                       {'SADD', '@SET_ACTIVE@', {}}, {'SREM', '@SET_DELETED@', {}}}
        for _, member in ipairs(group.members) do
          local state = redis.pcall('HMGET', prefix .. member, 'isDeleted', 'isActive')
          if type(state) == 'table' and not state['err'] then
            local deleted, active = moves[1][3], moves[3][3]
            if state[1] == 'true' then deleted[#deleted + 1] = member
            else moves[4][3][#moves[4][3] + 1] = member end
            if state[1] ~= 'true' and state[2] == 'true' then active[#active + 1] = member
            else moves[2][3][#moves[2][3] + 1] = member end
          end
        end
        for _, move in ipairs(moves) do
          if #move[3] > 0 and not (type(reply) == 'table' and reply['err']) then
            reply = redis.pcall(move[1], move[2], unpack(move[3]))
          end
        end
      else
        reply = redis.pcall('SCARD', group.target)
        if reply == 0 then reply = redis.pcall('SREM', tags_all, unpack(group.members)) end
      end
      if type(reply) == 'table' and reply['err'] then
        for _, position in ipairs(group.positions) do
          if results[position] ~= 'already' then
            results[position] = 'applied-index-error:' .. group.target
          end
        end
      end
    end
  end
end
if audit_error then
  for _, w in ipairs(writes) do
    if results[w[1]] == 'applied' then results[w[1]] = 'applied-audit-error:' .. audit_error end
  end
end
return results
"""
APPLY_PLANS_LUA = (
    APPLY_PLANS_LUA.replace("@HASH_MAP@", layout.HASH_MAP)
    .replace("@PREFIX@", layout.API_KEY_PREFIX)
    .replace("@SET_ACTIVE@", layout.SET_ACTIVE)
    .replace("@SET_DELETED@", layout.SET_DELETED)
)
KEY_MEMBER = "\0"  # an index op member standing for "this key's id"


# Written on every change but never a reason to refuse one.
UNCHECKED_FIELDS = frozenset({"updatedAt", LIFECYCLE})


class ApplyStatus(StrEnum):
    APPLIED = "applied"
    ALREADY = "already"  # every field already held its after-value: a resend, nothing written
    CONFLICT = "conflict"  # a field no longer held its before-value: nothing written
    MISSING = "missing"
    NOT_HASH = "not-hash"
    INDEX_ERROR = "applied-index-error"  # record written, an index set had the wrong type
    AUDIT_ERROR = "applied-audit-error"  # record written, its audit entry was not (policy warn)
    AUDIT_FAILED = "audit-failed"  # nothing written: the audit entry could not be (policy block)
    LOCK_LOST = "lock-lost"  # nothing in the chunk written: our lease had lapsed

    @property
    def wrote(self) -> bool:
        return self in (ApplyStatus.APPLIED, ApplyStatus.INDEX_ERROR, ApplyStatus.AUDIT_ERROR)


@dataclass(frozen=True, slots=True)
class ApplyResult:
    key_id: str
    status: ApplyStatus
    detail: str = ""


@dataclass(frozen=True, slots=True)
class WriteContext:
    """Lock fence, journal and audit for a chunk; all empty for a plain write (seeding, tests)."""

    lease_key: str = ""
    lease_token: str = ""
    journal_key: str = ""
    audit_stream: str = ""
    op_id: str = ""
    event: str = "applied"
    audit_required: bool = True


@lru_cache(maxsize=8192)
def _json_string(value: str | None) -> str:
    return json.dumps(value, ensure_ascii=False)


@lru_cache(maxsize=8192)
def _change_piece(name: str, before: str | None, after: str | None) -> str:
    return f"{_json_string(name)}:[{_json_string(before)},{_json_string(after)}]"


_PLAIN_ID = re.compile(r"[0-9A-Za-z_.-]+")


def _key_json(key_id: str) -> str:
    # CRS ids are UUIDs, which the script quotes itself (''); anything else (a hostile key
    # name) goes through the JSON encoder here.
    return "" if _PLAIN_ID.fullmatch(key_id) else json.dumps(key_id, ensure_ascii=False)


def _mode(write: FieldWrite) -> str:
    mode = "x" if write.field in UNCHECKED_FIELDS else ("n" if write.before is None else "b")
    return mode.upper() if write.after is None else mode


# (field modes, index ops with "this key" as KEY_MEMBER, guard modes)
Shape = tuple[
    tuple[tuple[str, str], ...], tuple[tuple[str, str, str], ...], tuple[tuple[str, str], ...]
]


@lru_cache(maxsize=16384)
def _shape(
    index_ready: bool,
    is_deleted: bool,
    transitions: tuple[tuple[str, bool, bool, str | None, str | None], ...],
    guard_modes: tuple[tuple[str, str], ...],
) -> Shape:
    """(field modes, index ops with "this key" as KEY_MEMBER, guard modes) for a kind of
    transition.

    Cached: the keys of a batch fall into few kinds, and this was a large share of the cost
    of encoding 100,000 keys. Values that do not change the shape are left out of the key
    (`None`), so e.g. every "add tag x to a key without x" is one entry."""
    writes = tuple(
        FieldWrite(
            name, None if before_absent else (before or ""), None if after_absent else (after or "")
        )
        for name, before_absent, after_absent, before, after in transitions
    )
    modes = tuple((write.field, _mode(write)) for write in writes)
    ops = tuple(
        (op.op, op.key, op.member)
        for op in index_ops_for(KEY_MEMBER, writes, index_ready, is_deleted)
    )
    return modes, ops, guard_modes


def _guard_mode(value: str | None) -> str:
    """'a' absent, 'e' empty: values every key of a template shares, so the template carries
    them; 'g' any other value, which the key sends."""
    return "a" if value is None else ("e" if value == "" else "g")


@lru_cache(maxsize=16384)
def _guard_parts(guards: tuple[Guard, ...]) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """(guard modes for the template, the values the key sends for its 'g' guards).

    Cached by value: an undo decides each key on its own, yet most keys' guards are equal."""
    modes = tuple((name, _guard_mode(value)) for name, value in guards)
    return modes, tuple(value for name, value in guards if value)


def _transition(write: FieldWrite) -> tuple[str, bool, bool, str | None, str | None]:
    if write.field in INDEXED_FIELDS:
        return (write.field, write.before is None, write.after is None, write.before, write.after)
    return (write.field, write.before is None, write.after is None, None, None)


def encode_plans(plans: Sequence[KeyWritePlan], context: WriteContext) -> list[Arg]:
    templates: dict[Shape, int] = {}
    template_args: list[Arg] = []
    key_args: list[Arg] = []
    # Plans of one batch often share their tuple of writes (same transition) and of guards
    # (same decision): work out each pair's shape once per call. Keyed by identity: every plan
    # stays alive during the call.
    shapes: dict[tuple[int, bool, bool, int], tuple[Shape, tuple[str, ...]]] = {}
    for plan in plans:
        shape_key = (id(plan.fields), plan.index_ready, plan.is_deleted, id(plan.guards))
        known = shapes.get(shape_key)
        if known is not None:
            shape, guard_values = known
        elif any(write.field == "name" for write in plan.fields):
            # The name index member embeds the key id, so a rename's shape is its own.
            guard_modes, guard_values = _guard_parts(plan.guards)
            shape = (
                tuple((write.field, _mode(write)) for write in plan.fields),
                tuple(
                    (op.op, op.key, KEY_MEMBER if op.member == plan.key_id else op.member)
                    for op in plan.index_ops
                ),
                guard_modes,
            )
        else:
            guard_modes, guard_values = _guard_parts(plan.guards)
            shape = _shape(
                plan.index_ready, plan.is_deleted, tuple(map(_transition, plan.fields)), guard_modes
            )
            shapes[shape_key] = shape, guard_values
        number = templates.get(shape)
        if number is None:
            number = templates[shape] = len(templates) + 1
            modes, ops, guards = shape
            template_args.append(len(modes))
            for field_name, mode in modes:
                template_args.extend((field_name, mode))
            template_args.append(len(ops))
            for op in ops:
                template_args.extend(op)
            template_args.append(len(guards))
            for guard in guards:
                template_args.extend(guard)
        key_args.extend((plan.key_id, _key_json(plan.key_id), number))  # '' = plain id
        for write in plan.fields:
            if write.field in UNCHECKED_FIELDS:
                # Only the new value: the script journals what the key holds at write time.
                key_args.append(write.after or "")
            else:
                key_args.extend(
                    (
                        write.before or "",
                        write.after or "",
                        _change_piece(write.field, write.before, write.after),
                    )
                )
        if guard_values:
            key_args.extend(guard_values)
    return [
        layout.API_KEY_TTL_SECONDS,
        layout.TAGS_ALL,
        context.lease_key,
        context.lease_token,
        context.journal_key,
        context.audit_stream,
        context.op_id,
        context.event,
        "1" if context.audit_required else "0",
        layout.API_KEY_PREFIX,
        len(templates),
        *template_args,
        *key_args,
    ]


_PLAIN_STATUS = {status.value: status for status in ApplyStatus}


def _decode(plan: KeyWritePlan, reply: str) -> ApplyResult:
    status = _PLAIN_STATUS.get(reply)
    if status is not None:
        return ApplyResult(plan.key_id, status)
    name, _, detail = reply.partition(":")
    return ApplyResult(plan.key_id, ApplyStatus(name), detail)


def _widen_send_buffer(connection: object) -> None:
    """Let the kernel take the next chunk whole while Redis is still running the current one.

    With default socket buffers, sending a ~90 KB chunk blocked until Redis had finished the
    previous one and read it, which undid the point of sending ahead.
    """
    writer = getattr(connection, "_writer", None)
    transport = getattr(writer, "transport", None)
    if transport is None or not hasattr(transport, "set_write_buffer_limits"):
        return  # fakeredis (the demo's in-process store): no socket
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
    transport.set_write_buffer_limits(high=SEND_BUFFER_BYTES)


SEND_BUFFER_BYTES = 4 * 1024 * 1024


async def _send(connection: Any, payload: bytes) -> None:
    """Write a chunk. redis-py's send_packed_command wraps every write in wait_for (a new task
    per call), which cost about 2 ms a chunk here; a plain write under one timeout does not."""
    writer = getattr(connection, "_writer", None)
    if writer is None or not hasattr(writer, "write"):
        await connection.send_packed_command(payload)  # fakeredis
        return
    async with asyncio.timeout(socket_timeout_of(connection)):
        writer.write(payload)
        await writer.drain()


def _live(plans: Sequence[KeyWritePlan]) -> list[KeyWritePlan]:
    """The plans that write something: a no-op is never sent, so it has no reply either."""
    return [plan for plan in plans if not plan.is_noop]


class ChunksInDoubt(Exception):
    """Chunks sent on a connection that failed before their replies arrived."""

    def __init__(self, chunks: list[list[KeyWritePlan]]) -> None:
        super().__init__(f"{len(chunks)} chunks in doubt")
        self.chunks = chunks


class KeyWriter:
    """Runs write plans through the apply script on a client that never retries on its own."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._script = RawScript(client, APPLY_PLANS_LUA)

    async def apply_chunk(
        self, plans: Sequence[KeyWritePlan], context: WriteContext = WriteContext()
    ) -> list[ApplyResult]:
        live = _live(plans)
        if not live:
            return []
        return self.decode_replies(live, await self._script([], encode_plans(live, context)))

    def decode_replies(
        self, plans: Sequence[KeyWritePlan], replies: list[str]
    ) -> list[ApplyResult]:
        live = _live(plans)
        if replies == [ApplyStatus.LOCK_LOST.value]:
            return [ApplyResult(plan.key_id, ApplyStatus.LOCK_LOST) for plan in live]
        return [_decode(plan, reply) for plan, reply in zip(live, replies, strict=True)]

    async def pipelined(
        self, chunks: AsyncIterator[list[KeyWritePlan]], context: WriteContext
    ) -> AsyncGenerator[tuple[list[KeyWritePlan], list[ApplyResult]], None]:
        """Write chunks with the next one already sent while the current one's reply is read,
        so Redis runs a chunk while Python encodes the next.

        A connection error leaves the chunks in flight unknown: they are raised in
        `ChunksInDoubt` for the caller to resend (the compare-and-set makes that safe).
        """
        await self._script.load()
        pool = self._client.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        _widen_send_buffer(connection)
        in_flight: list[list[KeyWritePlan]] = []
        try:
            async for chunk in chunks:
                try:
                    await _send(
                        connection, self._script.payload([], encode_plans(_live(chunk), context))
                    )
                    in_flight.append(chunk)
                    if len(in_flight) > PIPELINE_DEPTH:
                        done = in_flight.pop(0)
                        yield done, self.decode_replies(done, await connection.read_response())
                except (ConnectionError, TimeoutError, OSError, RedisError) as error:
                    await connection.disconnect()
                    raise ChunksInDoubt(
                        in_flight + ([] if chunk in in_flight else [chunk])
                    ) from error
            while in_flight:
                try:
                    reply = await connection.read_response()
                except (ConnectionError, TimeoutError, OSError, RedisError) as error:
                    await connection.disconnect()
                    raise ChunksInDoubt(list(in_flight)) from error
                done = in_flight.pop(0)
                yield done, self.decode_replies(done, reply)
        finally:
            if in_flight:
                # Left early (the caller stopped reading): replies still due on this
                # connection would answer the next command sent on it.
                await connection.disconnect()
            await pool.release(connection)

    async def apply(
        self, plans: Sequence[KeyWritePlan], chunk_size: int = APPLY_CHUNK
    ) -> list[ApplyResult]:
        results: list[ApplyResult] = []
        for start in range(0, len(plans), chunk_size):
            results.extend(await self.apply_chunk(plans[start : start + chunk_size]))
        return results


async def plan_changes(
    client: aioredis.Redis,
    key_ids: Sequence[str],
    change: KeyChange,
    *,
    now: datetime,
    index_ready: bool,
) -> list[KeyWritePlan]:
    """Read what each key holds now and plan the change against it (missing keys are skipped)."""
    current = await read_current(client, list(key_ids), PLAN_INPUT_FIELDS)
    return [
        plan_key_write(key_id, stored, change, now=now, index_ready=index_ready)
        for key_id, stored in current.items()
        if stored is not None
    ]
