-- Runs the REAPER script the way REAPER would, against a recording fake of the `reaper` and
-- `gfx` APIs. Usage: lua5.4 fake_reaper.lua SCRIPT SCENARIO
--   SCENARIO  a Lua file returning a table:
--     settings       table merged over the script's SETTINGS (as SOUNDALIKE_SETTINGS)
--     item           nil (nothing selected) or { track = n, take = nil | { midi = bool,
--                    file = path, sections = n (wrappers around the file source) } }
--     selected_track nil or a track number
--     menu_choice    what gfx.showmenu returns (0 = dismissed)
--     mouse_cap      gfx.mouse_cap after the menu
--     js_mouse       if set, reaper.JS_Mouse_GetState exists and returns this
--     exec_fails     ExecProcess returns nil (the command could not be started)
-- ExecProcess really runs the command line: it is split the way REAPER splits it (arguments
-- in double quotes) and run through /bin/sh with each argument single-quoted.
-- Prints, as JSON, everything the script did.

local script_path, scenario_path = arg[1], arg[2]
local here = arg[0]:match('^(.*)[/\\]') or '.'
local encode = dofile(here .. '/../lua_json.lua')
local scenario = dofile(scenario_path)

local record = { messages = {}, exec = {}, exec_argv = {}, inserts = {}, menus = {},
                 commands = {}, undo = {}, calls = {} }
local state = { selected_track = scenario.selected_track, last_touched = nil,
                selected_items = {}, cursor = 12.5 }

local function call(name) record.calls[#record.calls + 1] = name end

-- the project
local item, take = nil, nil
if scenario.item then
  item = { kind = 'item', track = scenario.item.track }
  if scenario.item.take then
    take = { kind = 'take', midi = scenario.item.take.midi or false }
    local source = { kind = 'source', file = scenario.item.take.file }
    for _ = 1, scenario.item.take.sections or 0 do
      source = { kind = 'source', section = true, parent = source }
    end
    take.source = source
  end
  state.selected_items = { item }
end

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

reaper = {
  GetSelectedMediaItem = function(proj, index)
    call('GetSelectedMediaItem')
    return state.selected_items[index + 1]
  end,
  GetActiveTake = function(it) call('GetActiveTake'); return take end,
  TakeIsMIDI = function(tk) return tk.midi end,
  GetMediaItemTake_Source = function(tk) return tk.source end,
  GetMediaSourceParent = function(src) return src.parent end,
  GetMediaSourceFileName = function(src, buf)
    if src.section then return '' end -- like REAPER: a section source has no file of its own
    return src.file or ''
  end,
  ExecProcess = function(cmd, timeout)
    record.exec[#record.exec + 1] = cmd
    local argv = split_command_line(cmd)
    record.exec_argv[#record.exec_argv + 1] = argv
    if scenario.exec_fails then return nil end
    local quoted = {}
    for i, a in ipairs(argv) do quoted[i] = sh_quote(a) end
    local pipe = io.popen(table.concat(quoted, ' ') .. ' 2>&1', 'r')
    local output = pipe:read('a')
    local _, _, code = pipe:close()
    return tostring(code or 0) .. '\n' .. output
  end,
  ShowMessageBox = function(msg, title, kind)
    record.messages[#record.messages + 1] = { text = msg, title = title, kind = kind }
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
    return 1
  end,
  Undo_BeginBlock = function() record.undo[#record.undo + 1] = 'begin' end,
  Undo_EndBlock = function(desc, flags) record.undo[#record.undo + 1] = desc end,
  UpdateArrange = function() call('UpdateArrange') end,
}
if scenario.js_mouse then
  reaper.JS_Mouse_GetState = function(flags) return scenario.js_mouse & flags end
end

gfx = {
  x = 0, y = 0, mouse_cap = 0,
  init = function() call('gfx.init') end,
  screentoclient = function(x, y) return x - 300, y - 200 end,
  showmenu = function(text)
    record.menus[#record.menus + 1] = { text = text, x = gfx.x, y = gfx.y }
    return scenario.menu_choice or 0
  end,
  update = function() gfx.mouse_cap = scenario.mouse_cap or 0 end,
  quit = function() call('gfx.quit') end,
}

SOUNDALIKE_SETTINGS = scenario.settings
local ok, err = pcall(dofile, script_path)
record.error = (not ok) and tostring(err) or nil
io.write(encode(record))
