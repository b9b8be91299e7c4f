-- @description Soundalike: find samples similar to the selected item
-- @version 0.1.0
-- @about
--   Asks Soundalike for the samples that sound most like the selected item's source file
--   (`soundalike similar --json`), shows them in a menu with their scores, and inserts the one
--   you click at the edit cursor on the selected track. Hold Shift while clicking to add it as a
--   new take of the selected item instead. See docs/daw.md.

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
  return file
end

-- One command line for ExecProcess: every argument in double quotes.
function M.command_line(settings, file)
  local args = {}
  for _, a in ipairs(settings.command) do args[#args + 1] = a end
  args[#args + 1] = 'similar'
  args[#args + 1] = '--json'
  args[#args + 1] = '-n'
  args[#args + 1] = tostring(math.floor(settings.count))
  for _, a in ipairs(settings.extra_args or {}) do args[#args + 1] = a end
  args[#args + 1] = file
  local quoted = {}
  for i, a in ipairs(args) do
    if a:find('"', 1, true) then
      return nil, 'Soundalike cannot be asked about a path with a double quote in it:\n' .. a
    end
    quoted[i] = '"' .. a .. '"'
  end
  return table.concat(quoted, ' ')
end

-- ExecProcess returns the exit status, a newline, then the output.
function M.split_exec_output(output)
  local status, rest = output:match('^(%-?%d+)\r?\n(.*)$')
  if not status then
    status, rest = output:match('^(%-?%d+)$'), ''
  end
  return tonumber(status), rest or ''
end

-- The first line of the output that is the JSON answer for a file.
function M.parse_results(output)
  for line in (output .. '\n'):gmatch('([^\r\n]*)\r?\n') do
    if line:match('^%s*{') then
      local ok, value = pcall(json.decode, line)
      if ok and type(value) == 'table' and type(value.results) == 'table' then
        local results = {}
        for _, r in ipairs(value.results) do
          if type(r) == 'table' and type(r.path) == 'string' then
            results[#results + 1] = { path = r.path, score = tonumber(r.score) or 0 }
          end
        end
        return results, value.query
      end
    end
  end
  return nil
end

local function last_line(text)
  local last = ''
  for line in text:gmatch('[^\r\n]+') do
    if line:match('%S') then last = line end
  end
  return last
end

-- Ask Soundalike. Returns the results, or nil and a message for the user.
function M.ask(settings, file)
  local cmd, problem = M.command_line(settings, file)
  if not cmd then return nil, problem end
  local output = reaper.ExecProcess(cmd, settings.timeout_ms)
  if output == nil then
    return nil, 'Could not run Soundalike:\n' .. settings.command[1] ..
        '\n\nSet the absolute path of the soundalike command at the top of this script.'
  end
  local status, text = M.split_exec_output(output)
  if status ~= 0 then
    local why = last_line(text)
    if why == '' then why = 'it exited with status ' .. tostring(status) end
    return nil, 'Soundalike could not answer:\n' .. why
  end
  local results = M.parse_results(text)
  if not results then
    return nil, 'Soundalike gave no answer that this script understands:\n' .. last_line(text)
  end
  return results
end

-- The popup menu's text: one field per result, nothing else, so field i is result i.
function M.menu_text(results)
  local fields = {}
  for i, r in ipairs(results) do
    local name = basename(r.path):gsub('|', '/')
    fields[i] = string.format('%d.  %s   %.2f', i, name, r.score)
  end
  return table.concat(fields, '|')
end

-- Show the menu at the mouse; returns the chosen index (0 for none) and the modifier keys.
function M.choose(results)
  local x, y = reaper.GetMousePosition()
  gfx.init(TITLE, 0, 0, 0, x, y)
  gfx.x, gfx.y = gfx.screentoclient(x, y)
  local choice = gfx.showmenu(M.menu_text(results))
  local modifiers
  if reaper.JS_Mouse_GetState then
    modifiers = reaper.JS_Mouse_GetState(4 | 8 | 16)
  else
    gfx.update()
    modifiers = gfx.mouse_cap or 0
  end
  gfx.quit()
  return choice, modifiers
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

function M.main(settings)
  settings = settings or SETTINGS
  local item = reaper.GetSelectedMediaItem(0, 0)
  if not item then
    message('Select a media item first: Soundalike looks for samples similar to its sound.')
    return
  end
  local take = reaper.GetActiveTake(item)
  if not take or reaper.TakeIsMIDI(take) then
    message('The selected item has no audio take: select an item with an audio file.')
    return
  end
  local file = M.take_file(take)
  if not file then
    message('The selected take has no source file on disk.')
    return
  end
  local results, problem = M.ask(settings, file)
  if not results then
    message(problem)
    return
  end
  if #results == 0 then
    message('Soundalike found no samples similar to ' .. basename(file) .. '.')
    return
  end
  local choice, modifiers = M.choose(results)
  if not choice or choice < 1 or choice > #results then return end
  M.insert(results[choice].path, item, (math.floor(modifiers) & settings.take_modifier) ~= 0)
end

if not SOUNDALIKE_AS_MODULE then
  M.main()
end
return M
