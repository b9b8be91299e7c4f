-- Soundalike TouchOSC layout: the root script (make_layout.py puts it on the root node).
--
-- On start it subscribes to the Soundalike daemon's pushes, asking for the per-rank slot
-- addresses, and then keeps the page up to date from what the daemon pushes:
--   /soundalike/slot/N  ,sf label score   -> the name and score labels of row N
--   /soundalike/cursor  ,isf rank path score -> the highlighted row
--   /soundalike/selected, /status, /progress, /error, /subscribed -> the status line
-- The buttons send their own OSC messages (see make_layout.py); the Connect button asks this
-- script to subscribe again (after the daemon was restarted, for instance).

-- TouchOSC's OSC receive port (Connections > OSC > connection 1 > Receive Port). The daemon
-- pushes to this port on this device's address.
REPLY_PORT = 9002
-- Result rows on the page.
SLOTS = 8
-- Subscribe again this often (milliseconds), so that the page recovers when the daemon restarts.
RESUBSCRIBE_MS = 30000

local lastSubscribe = nil
local cursorRank = 0

local ROW_COLOR = Color(0.16, 0.18, 0.22, 1)
local CURSOR_COLOR = Color(0.95, 0.55, 0.15, 1)

local function basename(path)
  return (string.gsub(path or '', '^.*[/\\]', ''))
end

local function setText(name, text)
  local control = self:findByName(name, true)
  if control then
    control.values.text = text
  end
end

local function status(text)
  setText('status', text)
end

function subscribe()
  sendOSC({ '/soundalike/subscribe', { { tag = 'i', value = REPLY_PORT }, { tag = 'i', value = SLOTS } } })
  lastSubscribe = getMillis()
end

local function highlight(rank)
  cursorRank = rank
  for n = 1, SLOTS do
    local row = self:findByName('row' .. n, true)
    if row then
      row.color = (n == rank) and CURSOR_COLOR or ROW_COLOR
    end
  end
end

local function showSlot(n, label, score)
  if n < 1 or n > SLOTS then
    return
  end
  setText('name' .. n, label or '')
  if label == nil or label == '' then
    setText('score' .. n, '')
  else
    setText('score' .. n, string.format('%.2f', score or 0))
  end
end

function init()
  for n = 1, SLOTS do
    showSlot(n, '', 0)
  end
  highlight(0)
  status('Connecting to Soundalike...')
  subscribe()
end

function update()
  if lastSubscribe ~= nil and getMillis() - lastSubscribe >= RESUBSCRIBE_MS then
    subscribe()
  end
end

function onReceiveNotify(key, value)
  if key == 'subscribe' then
    subscribe()
  end
end

local function arg(arguments, i)
  local a = arguments[i]
  if a == nil then
    return nil
  end
  return a.value
end

function onReceiveOSC(message, connections)
  local path = message[1]
  local arguments = message[2] or {}
  local n = string.match(path, '^/soundalike/slot/(%d+)$')
  if n then
    showSlot(tonumber(n), arg(arguments, 1), arg(arguments, 2))
    return true
  end
  if path == '/soundalike/cursor' then
    highlight(tonumber(arg(arguments, 1)) or 0)
    return true
  end
  if path == '/soundalike/results/begin' then
    highlight(0)
    setText('query', 'Like: ' .. basename(arg(arguments, 1)))
    return true
  end
  if path == '/soundalike/selected' then
    status('Selected: ' .. basename(arg(arguments, 1)))
    return true
  end
  if path == '/soundalike/subscribed' then
    status('Connected to Soundalike')
    return true
  end
  if path == '/soundalike/status' or path == '/soundalike/progress' then
    status(string.format('%d indexed, %d pending, %s', math.floor(arg(arguments, 1) or 0),
      math.floor(arg(arguments, 2) or 0), tostring(arg(arguments, 3) or '')))
    return true
  end
  if path == '/soundalike/rescan' then
    status('Rescanning the library...')
    return true
  end
  if path == '/soundalike/error' then
    status('Error: ' .. tostring(arg(arguments, 2) or '') .. ' (' .. tostring(arg(arguments, 1) or '') .. ')')
    return true
  end
  return false
end
