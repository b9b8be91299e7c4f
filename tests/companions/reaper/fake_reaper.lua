-- Runs the REAPER script the way REAPER would, against a recording fake of the `reaper` and
-- `gfx` APIs. Usage: lua5.4 fake_reaper.lua SCRIPT SCENARIO
--   SCENARIO  a Lua file returning a table:
--     settings       table merged over the script's SETTINGS (as SOUNDALIKE_SETTINGS)
--     item           nil (nothing selected) or { track = n, take = nil | { midi = bool,
--                    file = path, sections = n (wrappers around the file source),
--                    offset = s, length = s, source_length = s } }
--     selected_track nil or a track number
--     js_mouse       if set, reaper.JS_Mouse_GetState exists and returns this
--     exec_fails     ExecProcess returns nil (the command could not be started)
--     sws            SWS's preview API (CF_CreatePreview ...) exists
--     no_explorer    reaper.OpenMediaExplorer does not exist (REAPER 5)
--     steps          the user, in order: each step waits until its `when` (a Lua pattern
--                    found in the window's last frame of text) holds, then does one of
--                    key = 'down'|'up'|'enter'|'space'|'escape'|'n'|'p'|'f', click = row,
--                    select = { file = path } (the user selects another item), release = path
--                    (create that file: lets a held stand-in command answer), close = true;
--                    shift = true holds Shift for a key or click
--     max_cycles     give up after this many defer cycles (default 1000)
-- ExecProcess really runs the command line: it is split the way REAPER splits it (arguments
-- in double quotes) and run through /bin/sh with each argument single-quoted; with timeout -1
-- it runs in the background and ExecProcess returns at once, as REAPER's does.
-- Prints, as JSON, everything the script did: `events` is the ordered log of what the user
-- would have noticed (exec, audition, insert, message, step); `inks` the last frame's texts
-- with the colour each was drawn in.

local script_path, scenario_path = arg[1], arg[2]
local here = arg[0]:match('^(.*)[/\\]') or '.'
local encode = dofile(here .. '/../lua_json.lua')
local scenario = dofile(scenario_path)

local record = { messages = {}, exec = {}, exec_argv = {}, inserts = {}, frames = {},
                 commands = {}, undo = {}, calls = {}, auditions = {}, events = {},
                 deferred_cycles = 0 }
local state = { selected_track = scenario.selected_track, last_touched = nil,
                selected_items = {}, cursor = 12.5, clock = 1000.0 }

local function call(name) record.calls[#record.calls + 1] = name end
local function event(kind, value) record.events[#record.events + 1] = { kind = kind, value = value } end

local function make_item(spec)
  local it = { kind = 'item', track = spec.track or 1, length = spec.take and spec.take.length }
  if spec.take then
    local tk = { kind = 'take', midi = spec.take.midi or false, offset = spec.take.offset or 0 }
    local source = { kind = 'source', file = spec.take.file, length = spec.take.source_length }
    for _ = 1, spec.take.sections or 0 do
      source = { kind = 'source', section = true, parent = source }
    end
    tk.source = source
    it.take = tk
  end
  return it
end

if scenario.item then state.selected_items = { make_item(scenario.item) } end

local function split_command_line(cmd)
  local args, i = {}, 1
  while i <= #cmd do
    local c = cmd:sub(i, i)
    if c == ' ' then
      i = i + 1
    elseif c == '"' then
      local close = cmd:find('"', i + 1, true)
      assert(close, 'unbalanced quotes in ' .. cmd)
      args[#args + 1] = cmd:sub(i + 1, close - 1)
      i = close + 1
    else
      local stop = (cmd:find(' ', i, true) or (#cmd + 1))
      args[#args + 1] = cmd:sub(i, stop - 1)
      i = stop
    end
  end
  return args
end

local function sh_quote(a)
  return "'" .. a:gsub("'", "'\\''") .. "'"
end

local function sleep(seconds)
  os.execute('sleep ' .. tostring(seconds))
end

reaper = {
  GetSelectedMediaItem = function(proj, index)
    call('GetSelectedMediaItem')
    return state.selected_items[index + 1]
  end,
  GetActiveTake = function(it) return it.take end,
  TakeIsMIDI = function(tk) return tk.midi end,
  GetMediaItemTake_Source = function(tk) return tk.source end,
  GetMediaSourceParent = function(src) return src.parent end,
  GetMediaSourceFileName = function(src, buf)
    if src.section then return '' end -- like REAPER: a section source has no file of its own
    return src.file or ''
  end,
  GetMediaSourceLength = function(src) return src.length or 0, false end,
  GetMediaItemTakeInfo_Value = function(tk, key) if key == 'D_STARTOFFS' then return tk.offset end return 0 end,
  GetMediaItemInfo_Value = function(it, key) if key == 'D_LENGTH' then return it.length or 0 end return 0 end,
  ValidatePtr = function(p, kind) return p ~= nil end,
  GetOS = function() return 'Other' end,
  GetResourcePath = function() return '/tmp' end,
  time_precise = function() return state.clock end,
  ExecProcess = function(cmd, timeout)
    record.exec[#record.exec + 1] = { cmd = cmd, timeout = timeout }
    local argv = split_command_line(cmd)
    record.exec_argv[#record.exec_argv + 1] = argv
    event('exec', argv)
    if scenario.exec_fails then return nil end
    local quoted = {}
    for i, a in ipairs(argv) do quoted[i] = sh_quote(a) end
    if timeout == -1 then
      os.execute(table.concat(quoted, ' ') .. ' >/dev/null 2>&1 &')
      return ''
    end
    local pipe = io.popen(table.concat(quoted, ' ') .. ' 2>&1', 'r')
    local output = pipe:read('a')
    local _, _, code = pipe:close()
    return tostring(code or 0) .. '\n' .. output
  end,
  ShowMessageBox = function(msg, title, kind)
    record.messages[#record.messages + 1] = { text = msg, title = title, kind = kind }
    event('message', msg)
    return 1
  end,
  GetMousePosition = function() return 300, 200 end,
  GetSelectedTrack = function(proj, index)
    if index == 0 and state.selected_track then return { kind = 'track', n = state.selected_track } end
    return nil
  end,
  GetMediaItem_Track = function(it) return { kind = 'track', n = it.track } end,
  SetOnlyTrackSelected = function(track) state.selected_track = track.n end,
  Main_OnCommand = function(id, flag)
    record.commands[#record.commands + 1] = id
    if id == 40914 then state.last_touched = state.selected_track end
  end,
  SelectAllMediaItems = function(proj, selected) state.selected_items = {} end,
  SetMediaItemSelected = function(it, selected)
    if selected then state.selected_items[#state.selected_items + 1] = it end
  end,
  InsertMedia = function(path, mode)
    local selected = {}
    for _, it in ipairs(state.selected_items) do selected[#selected + 1] = it.track end
    record.inserts[#record.inserts + 1] = {
      path = path, mode = mode, last_touched_track = state.last_touched,
      selected_track = state.selected_track, selected_items_on_tracks = selected,
    }
    event('insert', path)
    return 1
  end,
  Undo_BeginBlock = function() record.undo[#record.undo + 1] = 'begin' end,
  Undo_EndBlock = function(desc, flags) record.undo[#record.undo + 1] = desc end,
  UpdateArrange = function() call('UpdateArrange') end,
}
local deferred = {}
reaper.defer = function(fn) deferred[#deferred + 1] = fn end
if not scenario.no_explorer then
  reaper.OpenMediaExplorer = function(path, play)
    record.auditions[#record.auditions + 1] = { how = 'explorer', path = path, play = play }
    event('audition', path)
    return true
  end
end
if scenario.sws then
  reaper.PCM_Source_CreateFromFile = function(path) return { kind = 'pcm', path = path } end
  reaper.PCM_Source_Destroy = function(src) call('PCM_Source_Destroy') end
  reaper.CF_CreatePreview = function(src) return { kind = 'preview', path = src.path } end
  reaper.CF_Preview_Play = function(p)
    record.auditions[#record.auditions + 1] = { how = 'sws', path = p.path }
    event('audition', p.path)
    return true
  end
  reaper.CF_Preview_Stop = function(p) call('CF_Preview_Stop') end
end
if scenario.js_mouse then
  reaper.JS_Mouse_GetState = function(flags) return scenario.js_mouse & flags end
end

local frame, last_frame, pending_char, closed = {}, '', 0, false
local ink, inks = { 1, 1, 1, 1 }, {}
gfx = {
  x = 0, y = 0, w = 480, h = 300, mouse_cap = 0, mouse_x = 0, mouse_y = 0,
  init = function() call('gfx.init') end,
  set = function(r, g, b, a) ink = { r, g or r, b or r, a or 1 } end,
  rect = function() end,
  drawstr = function(text)
    frame[#frame + 1] = text
    inks[#inks + 1] = { text = text, color = ink }
  end,
  update = function()
    local text = table.concat(frame, '\n')
    if text ~= last_frame then record.frames[#record.frames + 1] = text end
    record.inks = inks  -- the last frame's texts, each with the colour it was drawn in
    last_frame, frame, inks = text, {}, {}
  end,
  getchar = function()
    if closed then return -1 end
    local c = pending_char
    pending_char = 0
    return c
  end,
  quit = function() call('gfx.quit') end,
}

local KEYS = { down = 1685026670, up = 30064, enter = 13, space = 32, escape = 27 }

SOUNDALIKE_SETTINGS = scenario.settings
local ok, result = pcall(dofile, script_path)
record.error = (not ok) and tostring(result) or nil
local M = ok and result or nil

-- the defer loop, with the user's steps
local steps, next_step = scenario.steps or {}, 1
local max_cycles = scenario.max_cycles or 1000
local release_mouse = false
while ok and #deferred > 0 and record.deferred_cycles < max_cycles do
  local released = release_mouse  -- a click lasts one cycle; the next step waits a cycle
  if release_mouse then gfx.mouse_cap, release_mouse = 0, false end
  local step = steps[next_step]
  if step and not released and (step.when == nil or last_frame:find(step.when)) then
    next_step = next_step + 1
    event('step', step.key or (step.click and ('click ' .. step.click)) or
        (step.select and 'select') or (step.release and 'release') or 'close')
    local shift = step.shift and 8 or 0
    gfx.mouse_cap = shift
    if step.key then pending_char = KEYS[step.key] or string.byte(step.key) end
    if step.click and M then
      local r = M.ui.rows[step.click]
      assert(r, 'no row ' .. step.click .. ' to click')
      gfx.mouse_x, gfx.mouse_y = r.x + 10, r.y + 5
      gfx.mouse_cap = shift | 1
      release_mouse = true
    end
    if step.select then state.selected_items = { make_item({ track = 1, take = step.select }) } end
    if step.release then local f = io.open(step.release, 'w'); f:write('go'); f:close() end
    if step.close then closed = true end
  end
  local fns = deferred
  deferred = {}
  record.deferred_cycles = record.deferred_cycles + 1
  state.clock = state.clock + 0.02
  for _, fn in ipairs(fns) do
    local fine, err = pcall(fn)
    if not fine then record.error = tostring(err); deferred = {} end
  end
  if #deferred > 0 then sleep(0.01) end
end
record.steps_done = next_step - 1
record.still_open = #deferred > 0
if M then
  record.ui = { status = M.ui.status, header = M.ui.header, cursor = M.ui.cursor,
                results = #M.ui.results }
end
io.write(encode(record))
