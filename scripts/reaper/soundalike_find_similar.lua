-- @description Soundalike: find samples similar to the selected item
-- @version 0.3.0
-- @about
--   Asks Soundalike for the samples that sound most like the selected item's source file, in
--   the background (`soundalike similar --output FILE`, polled with reaper.defer: REAPER stays
--   usable meanwhile), and shows them in a browser window: Up/Down (or N/P) move and audition,
--   Enter or a click on the highlighted row inserts it at the edit cursor on the selected track,
--   with Shift as a new take of the item. While the window is open the selected item is
--   reported to the daemon (`soundalike select FILE`), so TouchOSC and controllers follow
--   REAPER. Each result shows its calibrated similarity (e.g. 92%: the chance that it is the
--   same kind of sound, docs/quality.md) when the model has one, else the raw score. See
--   docs/daw.md.

--------------------------------------------------------------------------------------------
-- Settings: edit these.
--------------------------------------------------------------------------------------------
local SETTINGS = {
  -- The soundalike command, as an absolute path: ExecProcess does not search PATH.
  -- macOS/Linux, e.g. { '/Users/me/.local/bin/soundalike' }
  -- Windows,     e.g. { 'C:\\Users\\me\\AppData\\Local\\Programs\\Python\\Python311\\Scripts\\soundalike.exe' }
  -- or a Python interpreter and the module: { '/usr/bin/python3', '-m', 'bridge' }
  command = { '/usr/local/bin/soundalike' },
  -- More arguments for `soundalike similar`, e.g. { '--data-dir', '/path/to/data' }.
  extra_args = {},
  -- How many results to ask for.
  count = 10,
  -- Give up after this many milliseconds (the first query of a session may load the model).
  timeout_ms = 120000,
  -- Modifier that makes the click insert a new take of the selected item:
  -- 8 = Shift, 4 = Ctrl (Cmd on macOS), 16 = Alt (Option on macOS).
  take_modifier = 8,
  -- The daemon's result list to answer in: nil keeps REAPER's results to itself; 'daw' shows
  -- them on TouchOSC and controllers too (docs/osc.md, "Result lists").
  list = nil,
  -- Tell the daemon which item is selected (soundalike select), so TouchOSC's Find similar
  -- and controllers follow REAPER. Needs a running daemon; harmless without one.
  report_selection = true,
  -- Audition: 'auto' (SWS's preview when installed, else the Media Explorer), 'sws',
  -- 'explorer' or 'off'.
  audition = 'auto',
  -- Where the answer file goes (nil: the system's temporary folder).
  temp_dir = nil,
}
--------------------------------------------------------------------------------------------

local TITLE = 'Soundalike'
local M = { SETTINGS = SETTINGS }

-- Settings given by whoever loads this file (tests, or a wrapper script) win.
if type(SOUNDALIKE_SETTINGS) == 'table' then
  for k, v in pairs(SOUNDALIKE_SETTINGS) do SETTINGS[k] = v end
end

--------------------------------------------------------------------------------------------
-- A small JSON decoder (RFC 8259): objects, arrays, strings with escapes, numbers, literals.
--------------------------------------------------------------------------------------------
local json = {}

local function utf8_char(code)
  return utf8.char(code)
end

local function decode_error(text, pos, what)
  error(string.format('bad JSON at character %d: %s', pos, what), 0)
end

local function skip_space(text, pos)
  return text:find('[^ \t\r\n]', pos) or (#text + 1)
end

local decode_value

local function decode_string(text, pos)
  -- text:sub(pos, pos) == '"'
  local parts, i = {}, pos + 1
  while true do
    local chunk_end = text:find('["\\%c]', i)
    if not chunk_end then decode_error(text, pos, 'unterminated string') end
    parts[#parts + 1] = text:sub(i, chunk_end - 1)
    local ch = text:sub(chunk_end, chunk_end)
    if ch == '"' then
      return table.concat(parts), chunk_end + 1
    elseif ch == '\\' then
      local esc = text:sub(chunk_end + 1, chunk_end + 1)
      local simple = ({ ['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f',
                        n = '\n', r = '\r', t = '\t' })[esc]
      if simple then
        parts[#parts + 1] = simple
        i = chunk_end + 2
      elseif esc == 'u' then
        local hex = text:sub(chunk_end + 2, chunk_end + 5)
        if not hex:match('^%x%x%x%x$') then decode_error(text, chunk_end, 'bad \\u escape') end
        local code = tonumber(hex, 16)
        i = chunk_end + 6
        if code >= 0xD800 and code <= 0xDBFF then
          local low = text:match('^\\u(%x%x%x%x)', i)
          local low_code = low and tonumber(low, 16)
          if not low_code or low_code < 0xDC00 or low_code > 0xDFFF then
            decode_error(text, chunk_end, 'lone surrogate')
          end
          code = 0x10000 + (code - 0xD800) * 0x400 + (low_code - 0xDC00)
          i = i + 6
        elseif code >= 0xDC00 and code <= 0xDFFF then
          decode_error(text, chunk_end, 'lone surrogate')
        end
        parts[#parts + 1] = utf8_char(code)
      else
        decode_error(text, chunk_end, 'bad escape')
      end
    else
      decode_error(text, chunk_end, 'control character in string')
    end
  end
end

local function decode_number(text, pos)
  local _, last = text:find('^-?%d+', pos)
  if not last or text:find('^-?0%d', pos) then decode_error(text, pos, 'bad number') end
  local i = last + 1
  local _, frac = text:find('^%.%d+', i)
  if frac then i = frac + 1 elseif text:sub(i, i) == '.' then decode_error(text, i, 'bad number') end
  local _, exp = text:find('^[eE][-+]?%d+', i)
  if exp then i = exp + 1 elseif text:find('^[eE]', i) then decode_error(text, i, 'bad number') end
  return tonumber(text:sub(pos, i - 1)), i
end

local function decode_array(text, pos)
  local out = {}
  pos = skip_space(text, pos + 1)
  if text:sub(pos, pos) == ']' then return out, pos + 1 end
  while true do
    local value
    value, pos = decode_value(text, pos)
    out[#out + 1] = value
    pos = skip_space(text, pos)
    local ch = text:sub(pos, pos)
    if ch == ']' then return out, pos + 1 end
    if ch ~= ',' then decode_error(text, pos, "expected ',' or ']'") end
    pos = skip_space(text, pos + 1)
  end
end

local function decode_object(text, pos)
  local out = {}
  pos = skip_space(text, pos + 1)
  if text:sub(pos, pos) == '}' then return out, pos + 1 end
  while true do
    if text:sub(pos, pos) ~= '"' then decode_error(text, pos, 'expected a key') end
    local key
    key, pos = decode_string(text, pos)
    pos = skip_space(text, pos)
    if text:sub(pos, pos) ~= ':' then decode_error(text, pos, "expected ':'") end
    local value
    value, pos = decode_value(text, skip_space(text, pos + 1))
    out[key] = value
    pos = skip_space(text, pos)
    local ch = text:sub(pos, pos)
    if ch == '}' then return out, pos + 1 end
    if ch ~= ',' then decode_error(text, pos, "expected ',' or '}'") end
    pos = skip_space(text, pos + 1)
  end
end

json.null = setmetatable({}, { __tostring = function() return 'null' end })

decode_value = function(text, pos)
  pos = skip_space(text, pos)
  local ch = text:sub(pos, pos)
  if ch == '{' then return decode_object(text, pos) end
  if ch == '[' then return decode_array(text, pos) end
  if ch == '"' then return decode_string(text, pos) end
  if ch == '-' or ch:match('%d') then return decode_number(text, pos) end
  for literal, value in pairs({ ['true'] = true, ['false'] = false, ['null'] = json.null }) do
    if text:sub(pos, pos + #literal - 1) == literal then return value, pos + #literal end
  end
  decode_error(text, pos, 'unexpected ' .. (ch == '' and 'end of text' or ("'" .. ch .. "'")))
end

function json.decode(text)
  local value, pos = decode_value(text, 1)
  pos = skip_space(text, pos)
  if pos <= #text then decode_error(text, pos, 'trailing characters') end
  return value
end

M.json = json


--------------------------------------------------------------------------------------------
-- The steps, each testable on its own.
--------------------------------------------------------------------------------------------

local function message(text)
  reaper.ShowMessageBox(text, TITLE, 0)
end

local function basename(path)
  return (path:gsub('^.*[/\\]', ''))
end
M.basename = basename

-- A result as people see it: its folder and file name (the last two parts of the path).
function M.label(path)
  local parts = {}
  for part in path:gmatch('[^/\\]+') do parts[#parts + 1] = part end
  if #parts >= 2 then return parts[#parts - 1] .. '/' .. parts[#parts] end
  return parts[1] or path
end

-- The file behind a take: section (and reversed) sources wrap their parent source.
function M.take_file(take)
  local source = reaper.GetMediaItemTake_Source(take)
  local depth = 0
  while source do
    local parent = reaper.GetMediaSourceParent(source)
    if not parent or depth > 16 then break end
    source, depth = parent, depth + 1
  end
  if not source then return nil end
  local file = reaper.GetMediaSourceFileName(source, '')
  if file == nil or file == '' then return nil end
  return file, source
end

-- The part of its file that the item plays: (offset, length) in seconds, or nil for all of
-- it. Soundalike's queries work on whole files, so this is only shown, never sent.
function M.take_region(item, take, source)
  if not (reaper.GetMediaItemTakeInfo_Value and reaper.GetMediaItemInfo_Value) then return nil end
  local offset = reaper.GetMediaItemTakeInfo_Value(take, 'D_STARTOFFS') or 0
  local length = reaper.GetMediaItemInfo_Value(item, 'D_LENGTH') or 0
  local total = source and reaper.GetMediaSourceLength and reaper.GetMediaSourceLength(source)
  if offset > 0.001 or (total and length > 0 and length < total - 0.001) then
    return offset, length
  end
  return nil
end

local function quote_all(args)
  local quoted = {}
  for i, a in ipairs(args) do
    if a:find('"', 1, true) then
      return nil, 'Soundalike cannot be asked about a path with a double quote in it:\n' .. a
    end
    quoted[i] = '"' .. a .. '"'
  end
  return table.concat(quoted, ' ')
end

-- One command line for ExecProcess: every argument in double quotes.
function M.command_line(settings, file, output)
  local args = {}
  for _, a in ipairs(settings.command) do args[#args + 1] = a end
  args[#args + 1] = 'similar'
  args[#args + 1] = '--json'
  args[#args + 1] = '-n'
  args[#args + 1] = tostring(math.floor(settings.count))
  if settings.list and settings.list ~= '' then
    args[#args + 1] = '--list'
    args[#args + 1] = settings.list
  end
  if output then
    args[#args + 1] = '--output'
    args[#args + 1] = output
  end
  for _, a in ipairs(settings.extra_args or {}) do args[#args + 1] = a end
  args[#args + 1] = file
  return quote_all(args)
end

-- The command line that reports the selection: soundalike select FILE.
function M.select_command_line(settings, file)
  local args = {}
  for _, a in ipairs(settings.command) do args[#args + 1] = a end
  args[#args + 1] = 'select'
  for _, a in ipairs(settings.extra_args or {}) do args[#args + 1] = a end
  args[#args + 1] = file
  return quote_all(args)
end

-- The answer: the first line of the output that is the JSON answer for a file, or an error.
-- Returns results, query; or nil, message.
function M.parse_results(output)
  for line in (output .. '\n'):gmatch('([^\r\n]*)\r?\n') do
    if line:match('^%s*{') then
      local ok, value = pcall(json.decode, line)
      if ok and type(value) == 'table' and type(value.error) == 'string' then
        return nil, value.error
      end
      if ok and type(value) == 'table' and type(value.results) == 'table' then
        local results = {}
        for _, r in ipairs(value.results) do
          if type(r) == 'table' and type(r.path) == 'string' then
            -- similarity: the calibrated P(same class), 0-1, when the model has a calibration
            results[#results + 1] = { path = r.path, score = tonumber(r.score) or 0,
                                      similarity = tonumber(r.similarity) }
          end
        end
        return results, value.query
      end
    end
  end
  return nil
end

-- How a result's closeness is shown: its calibrated similarity as a percentage ('92%') when
-- known, else the raw cosine score ('0.93').
function M.score_text(r)
  if r.similarity then
    return string.format('%d%%', math.floor(math.max(0, math.min(1, r.similarity)) * 100 + 0.5))
  end
  return string.format('%.2f', r.score or 0)
end

-- Below this calibrated similarity a result is more likely another kind of sound: drawn dimmed.
M.UNLIKELY = 0.5

function M.unlikely(r)
  return r.similarity ~= nil and r.similarity < M.UNLIKELY
end

local function temp_path(settings)
  local dir = settings.temp_dir or os.getenv('TMPDIR') or os.getenv('TEMP') or os.getenv('TMP')
  if not dir or dir == '' then
    dir = (reaper.GetOS and reaper.GetOS():match('Win')) and reaper.GetResourcePath() or '/tmp'
  end
  dir = dir:gsub('[/\\]$', '')
  -- unique per query: REAPER 6's Lua 5.3 does not seed math.random, so the clock counts too
  return string.format('%s/soundalike-reaper-%d-%d-%d.json', dir, os.time(),
      math.floor((reaper.time_precise() % 1e6) * 1000), math.random(1, 1000000000))
end

local function read_file(path)
  local f = io.open(path, 'rb')
  if not f then return nil end
  local text = f:read('a')
  f:close()
  return text
end

-- Start a query in the background. Returns a job table {output, deadline, file} or nil, message.
function M.start_query(settings, file)
  local output = temp_path(settings)
  os.remove(output)
  local cmd, problem = M.command_line(settings, file, output)
  if not cmd then return nil, problem end
  -- timeout -1: ExecProcess starts the command and returns at once (REAPER 6 and later)
  if reaper.ExecProcess(cmd, -1) == nil then
    return nil, 'Could not run Soundalike:\n' .. settings.command[1] ..
        '\n\nSet the absolute path of the soundalike command at the top of this script.'
  end
  return { output = output, file = file, deadline = reaper.time_precise() + settings.timeout_ms / 1000 }
end

-- Look for the background query's answer: 'pending', or 'done' with results / 'failed' with a
-- message.
function M.poll_query(job)
  local text = read_file(job.output)
  if text == nil or text == '' then
    if reaper.time_precise() > job.deadline then
      return 'failed', 'Soundalike gave no answer in time. Is the command at the top of this ' ..
          'script right? (' .. job.output .. ' never appeared.)'
    end
    return 'pending'
  end
  os.remove(job.output)
  local results, why = M.parse_results(text)
  if results then return 'done', results end
  if why then return 'failed', 'Soundalike could not answer:\n' .. why end
  return 'failed', 'Soundalike gave no answer that this script understands.'
end

-- Tell the daemon which file is selected, in the background (no daemon: nothing happens).
function M.report_selection(settings, file)
  local cmd = M.select_command_line(settings, file)
  if cmd then reaper.ExecProcess(cmd, -1) end
end

-- Audition: SWS's preview API when present (REAPER with SWS 2.13+), else the Media Explorer.
local preview = nil
function M.audition(settings, path)
  local how = settings.audition or 'auto'
  if how == 'off' then return 'off' end
  local sws = reaper.CF_CreatePreview and reaper.PCM_Source_CreateFromFile and reaper.CF_Preview_Play
  if (how == 'auto' or how == 'sws') and sws then
    M.stop_audition()
    local source = reaper.PCM_Source_CreateFromFile(path)
    if not source then return nil end
    preview = { handle = reaper.CF_CreatePreview(source), source = source }
    reaper.CF_Preview_Play(preview.handle)
    return 'sws'
  end
  if (how == 'auto' or how == 'explorer') and reaper.OpenMediaExplorer then
    reaper.OpenMediaExplorer(path, true)
    return 'explorer'
  end
  return nil
end

function M.stop_audition()
  if preview then
    if reaper.CF_Preview_Stop then reaper.CF_Preview_Stop(preview.handle) end
    if reaper.PCM_Source_Destroy then reaper.PCM_Source_Destroy(preview.source) end
    preview = nil
  end
end

-- Put the file in the project: at the edit cursor on the selected track (InsertMedia mode 0),
-- or as a new take of the item (mode 3: add to the selected items as takes).
function M.insert(path, item, as_take)
  reaper.Undo_BeginBlock()
  if as_take then
    reaper.SelectAllMediaItems(0, false)
    reaper.SetMediaItemSelected(item, true)
    reaper.InsertMedia(path, 3)
  else
    local track = reaper.GetSelectedTrack(0, 0) or reaper.GetMediaItem_Track(item)
    reaper.SetOnlyTrackSelected(track)
    reaper.Main_OnCommand(40914, 0) -- Track: Set first selected track as last touched track
    reaper.InsertMedia(path, 0)
  end
  reaper.Undo_EndBlock('Soundalike: insert ' .. basename(path) .. (as_take and ' as a take' or ''), -1)
  reaper.UpdateArrange()
end

-- The selected item's audio file: item, take, file, source; or nil and why.
function M.selected_file()
  local item = reaper.GetSelectedMediaItem(0, 0)
  if not item then
    return nil, 'Select a media item first: Soundalike looks for samples similar to its sound.'
  end
  local take = reaper.GetActiveTake(item)
  if not take or reaper.TakeIsMIDI(take) then
    return nil, 'The selected item has no audio take: select an item with an audio file.'
  end
  local file, source = M.take_file(take)
  if not file then return nil, 'The selected take has no source file on disk.' end
  return item, take, file, source
end

--------------------------------------------------------------------------------------------
-- The result browser: a gfx window, redrawn and read every defer cycle.
--------------------------------------------------------------------------------------------
local KEY = { up = 30064, down = 1685026670, enter = 13, escape = 27, space = 32 }
M.KEY = KEY
local ROW_H, TOP, LEFT, WIDTH = 20, 48, 8, 460

local ui = { results = {}, cursor = 0, status = '', rows = {}, mouse_was_down = false }
M.ui = ui

local function take_modifier_held(settings)
  local modifiers
  if reaper.JS_Mouse_GetState then
    modifiers = reaper.JS_Mouse_GetState(4 | 8 | 16)
  else
    modifiers = gfx.mouse_cap or 0
  end
  return (math.floor(modifiers) & settings.take_modifier) ~= 0
end

local function move(settings, index)
  if #ui.results == 0 then return end
  index = math.max(1, math.min(#ui.results, index))
  ui.cursor = index
  local r = ui.results[index]
  local how = M.audition(settings, r.path)
  ui.status = string.format('%d. %s  %s', index, M.label(r.path), M.score_text(r)) ..
      (how == nil and '  (this REAPER cannot preview: no SWS, no OpenMediaExplorer)' or '')
end

local function insert_current(settings)
  local r = ui.results[ui.cursor]
  if not r then return end
  local item = ui.item
  if reaper.ValidatePtr and not reaper.ValidatePtr(item, 'MediaItem*') then
    item = reaper.GetSelectedMediaItem(0, 0)
  end
  local as_take = take_modifier_held(settings)
  if as_take and not item then
    ui.status = 'Select an item to add the take to'
    return
  end
  M.stop_audition()
  M.insert(r.path, item, as_take)
  ui.status = 'Inserted ' .. M.label(r.path) .. (as_take and ' as a take' or '')
end

local function draw()
  gfx.set(0.12, 0.13, 0.16, 1)
  gfx.rect(0, 0, gfx.w, gfx.h, 1)
  gfx.set(0.9, 0.9, 0.9, 1)
  gfx.x, gfx.y = LEFT, 6
  gfx.drawstr(ui.header or '')
  gfx.x, gfx.y = LEFT, 24
  gfx.drawstr(ui.status or '')
  ui.rows = {}
  for i, r in ipairs(ui.results) do
    local y = TOP + (i - 1) * ROW_H
    ui.rows[i] = { x = LEFT, y = y, w = WIDTH, h = ROW_H }
    if i == ui.cursor then
      gfx.set(0.95, 0.55, 0.15, 1)
      gfx.rect(LEFT - 4, y - 2, WIDTH, ROW_H, 1)
      gfx.set(0.05, 0.05, 0.05, 1)
    elseif M.unlikely(r) then
      gfx.set(0.5, 0.5, 0.52, 1)
    else
      gfx.set(0.9, 0.9, 0.9, 1)
    end
    gfx.x, gfx.y = LEFT, y
    gfx.drawstr(string.format('%2d.  %s', i, M.label(r.path)))
    gfx.x = LEFT + WIDTH - 48
    gfx.drawstr(M.score_text(r))
  end
  gfx.set(0.6, 0.6, 0.6, 1)
  gfx.x, gfx.y = LEFT, TOP + math.max(#ui.results, 1) * ROW_H + 8
  gfx.drawstr('Up/Down or N/P: audition   Enter, or a click on the highlighted row: insert')
  gfx.x, gfx.y = LEFT, gfx.y + ROW_H - 2
  gfx.drawstr('Shift: as a new take   F: find again for the selected item   Esc: close')
  gfx.update()
end

M.draw = draw

local function row_at(x, y)
  for i, r in ipairs(ui.rows) do
    if x >= r.x - 4 and x < r.x - 4 + r.w and y >= r.y - 2 and y < r.y - 2 + r.h then return i end
  end
  return nil
end

local function start(settings)
  local item, take, file, source = M.selected_file()
  if not item then
    ui.status = take
    return false
  end
  local job, problem = M.start_query(settings, file)
  if not job then
    ui.status = problem
    return false
  end
  ui.item, ui.job, ui.results, ui.cursor = item, job, {}, 0
  ui.header = 'Like ' .. M.label(file)
  local offset, length = M.take_region(item, take, source)
  if offset then
    ui.header = ui.header .. string.format('  (whole file; the item plays %.2f-%.2f s)',
        offset, offset + length)
  end
  ui.status = 'Searching for samples like ' .. M.label(file) .. '...'
  return true
end

-- One defer cycle: the query's answer, the selection, the keyboard and the mouse.
function M.step(settings)
  local char = gfx.getchar()
  if char < 0 or char == KEY.escape then
    M.stop_audition()
    gfx.quit()
    return false
  end
  if ui.job then
    local state, value = M.poll_query(ui.job)
    if state ~= 'pending' then
      ui.job_file, ui.job = ui.job.file, nil
      if state == 'done' then
        ui.results = value
        if #value == 0 then
          ui.status = 'Soundalike found no samples similar to ' .. basename(ui.job_file) .. '.'
        else
          ui.header = ui.header .. ' - ' .. #value .. ' samples, best first'
          move(settings, 1)
        end
      else
        ui.status = value
        message(value)
      end
    end
  end
  if settings.report_selection then
    local _, _, file = M.selected_file()
    if file and file ~= ui.reported then
      ui.reported = file
      M.report_selection(settings, file)
    end
  end
  if char == KEY.down or char == string.byte('n') then move(settings, ui.cursor + 1)
  elseif char == KEY.up or char == string.byte('p') then move(settings, ui.cursor - 1)
  elseif char == KEY.space then move(settings, ui.cursor)
  elseif char == KEY.enter then insert_current(settings)
  elseif char == string.byte('f') then start(settings)
  end
  local down = ((gfx.mouse_cap or 0) & 1) == 1
  if down and not ui.mouse_was_down then
    local row = row_at(gfx.mouse_x, gfx.mouse_y)
    if row and row == ui.cursor then insert_current(settings)
    elseif row then move(settings, row) end
  end
  ui.mouse_was_down = down
  draw()
  return true
end

function M.main(settings)
  settings = settings or SETTINGS
  local item, why = M.selected_file()
  if not item then
    message(why)
    return
  end
  local x, y = reaper.GetMousePosition()
  gfx.init(TITLE, WIDTH + 16, TOP + (settings.count + 3) * ROW_H, 0, x, y)
  if not start(settings) then
    gfx.quit()
    message(ui.status)
    return
  end
  local function loop()
    if M.step(settings) then reaper.defer(loop) end
  end
  loop()
end

if not SOUNDALIKE_AS_MODULE then
  M.main()
end
return M
