-- A recording fake of TouchOSC's script environment, for running the layout's scripts with
-- lua5.4. Usage: lua5.4 fake_touchosc.lua SCRIPT STEPS
--   SCRIPT  the Lua script of a control (the root script, or a button's)
--   STEPS   a Lua chunk run after SCRIPT in the same environment, using the helpers below
-- Prints, as JSON: the OSC messages sent, the notifications, and every control's text and color.

local script_path, steps_path = arg[1], arg[2]

local now = 0
local sent = {}
local notified = {}
local controls = {}

function Color(r, g, b, a)
  return { r = r, g = g, b = b, a = a or 1 }
end

function getMillis()
  return now
end

function sendOSC(message, connections)
  if type(message) ~= 'table' then
    error('sendOSC: this fake only knows the table form sendOSC({path, {args}})')
  end
  local record = { path = message[1], args = {} }
  for i, a in ipairs(message[2] or {}) do
    record.args[i] = { tag = a.tag, value = a.value }
  end
  sent[#sent + 1] = record
end

local function newControl(name)
  local c = { name = name, values = { text = '', x = 0 }, color = Color(0, 0, 0, 0) }
  function c:findByName(n, recursive)
    return controls[n]
  end
  function c:notify(key, value)
    notified[#notified + 1] = { target = self.name, key = key }
    if self == root and onReceiveNotify then onReceiveNotify(key, value) end
  end
  return c
end

-- the controls the layout has; the steps may add more with control(name)
function control(name)
  controls[name] = controls[name] or newControl(name)
  return controls[name]
end

root = newControl('root')
self = root
for _, name in ipairs(CONTROL_NAMES or {}) do control(name) end

-- helpers for the steps
function advance(ms) now = now + ms end
function receive(path, args)
  local handled = onReceiveOSC({ path, args or {} }, { true, false, false, false, false })
  return handled
end
function press(name)
  self = control(name)
  self.values.x = 1
  if onValueChanged then onValueChanged('x') end
  self = root
end

local here = arg[0]:match('^(.*)[/\\]') or '.'
local encode = dofile(here .. '/../lua_json.lua')

dofile(script_path)
local steps = assert(loadfile(steps_path))
steps()

local state = {}
for name, c in pairs(controls) do
  state[name] = { text = c.values.text, color = c.color }
end
io.write(encode({ sent = sent, notified = notified, controls = state }))
