-- Soundalike TouchOSC layout: the root script (make_layout.py puts it on the root node).
--
-- On start it subscribes to the Soundalike daemon's pushes, asking for the per-rank slot
-- addresses and for the calibrated similarity (/soundalike/reply_to and /soundalike/similarity
-- first, so that the setting is the receive port's), and then keeps the page up to date from
-- what the daemon pushes:
--   /soundalike/slot/N  ,sf label score   -> the name (folder/name) and score labels of row N
--   /soundalike/result  ,isff rank path score similarity -> row N's similarity (e.g. 92%: the
--                       chance that it is the same kind of sound), shown instead of the score;
--                       ,isf (a model without calibration): the score stays
--   /soundalike/cursor  ,isf or ,isff rank path score [similarity] -> the highlighted row
--   /soundalike/selected, /status, /progress, /error, /subscribed -> the status line
-- The selection is the DAW's: the Max for Live device's clip, or the item the REAPER script
-- reports (soundalike select), so Find similar works with either. When a subscription is not
-- answered within REPLY_TIMEOUT_MS the page says the daemon is unreachable, and keeps trying
-- every RETRY_MS until it answers.
-- The buttons send their own OSC messages (see make_layout.py); the Connect button asks this
-- script to subscribe again (after the daemon was restarted, for instance).

-- TouchOSC's OSC receive port (Connections > OSC > connection 1 > Receive Port). The daemon
-- pushes to this port on this device's address.
REPLY_PORT = 9002
-- Result rows on the page.
SLOTS = 8
-- Subscribe again this often (milliseconds), so that the page recovers when the daemon restarts.
RESUBSCRIBE_MS = 30000
-- How long to wait for the daemon's answer before saying it is unreachable, and how often to
-- try again meanwhile (milliseconds).
REPLY_TIMEOUT_MS = 3000
RETRY_MS = 5000

local lastSubscribe = nil
local awaiting = false     -- a subscription sent and not answered yet
local reachable = nil      -- nil: not known yet
local cursorRank = 0
local slots = {}           -- row n -> { label = ..., score = ... } as the daemon pushed it
local similarities = {}    -- row n -> { label = ..., value = 0-1 } from the last results

local ROW_COLOR = Color(0.16, 0.18, 0.22, 1)
local CURSOR_COLOR = Color(0.95, 0.55, 0.15, 1)

-- A file as people see it: its folder and name (the last two parts of the path).
local function label(path)
  local parts = {}
  for part in string.gmatch(path or '', '[^/\\]+') do parts[#parts + 1] = part end
  if #parts >= 2 then return parts[#parts - 1] .. '/' .. parts[#parts] end
  return parts[1] or ''
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
  -- replies to this page's requests go to its receive port, which gets the calibrated
  -- similarity (a restarted daemon has forgotten both: they are sent with every subscription)
  sendOSC({ '/soundalike/reply_to', { { tag = 'i', value = REPLY_PORT } } })
  sendOSC({ '/soundalike/similarity', { { tag = 'i', value = 1 } } })
  sendOSC({ '/soundalike/subscribe', { { tag = 'i', value = REPLY_PORT }, { tag = 'i', value = SLOTS } } })
  lastSubscribe = getMillis()
  awaiting = true
end

local function setReachable(yes)
  reachable = yes
  setText('link', yes and 'online' or 'OFFLINE')
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

-- How close row n's result is: its calibrated similarity as a percentage when the daemon sent
-- one for that result, else the raw score.
local function scoreText(n, name, score)
  local sim = similarities[n]
  if sim and sim.label == name then
    return string.format('%d%%', math.floor(math.max(0, math.min(1, sim.value)) * 100 + 0.5))
  end
  return string.format('%.2f', score or 0)
end

local function showSlot(n, name, score)
  if n < 1 or n > SLOTS then
    return
  end
  slots[n] = { label = name or '', score = score }
  setText('name' .. n, name or '')
  if name == nil or name == '' then
    setText('score' .. n, '')
  else
    setText('score' .. n, scoreText(n, name, score))
  end
end

-- A result or cursor message's similarity (its 4th argument, ,isff), kept for its row.
local function noteSimilarity(rank, path, value)
  if rank == nil or rank < 1 or rank > SLOTS or type(value) ~= 'number' then
    return
  end
  similarities[rank] = { label = label(path), value = value }
  local shown = slots[rank]
  if shown and shown.label == label(path) then
    setText('score' .. rank, scoreText(rank, shown.label, shown.score))
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
  if lastSubscribe == nil then
    return
  end
  local waited = getMillis() - lastSubscribe
  if awaiting and waited >= REPLY_TIMEOUT_MS and reachable ~= false then
    setReachable(false)
    status('No answer from Soundalike: is `soundalike serve` running, and are the ' ..
      'connection\'s host and send port (9000) right? Trying again...')
  end
  if waited >= ((reachable == false) and RETRY_MS or RESUBSCRIBE_MS) then
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
  if string.sub(path, 1, 12) == '/soundalike/' then
    awaiting = false  -- anything from the daemon shows it is there
    if reachable ~= true then setReachable(true) end
  end
  local n = string.match(path, '^/soundalike/slot/(%d+)$')
  if n then
    showSlot(tonumber(n), arg(arguments, 1), arg(arguments, 2))
    return true
  end
  if path == '/soundalike/cursor' then
    local rank = tonumber(arg(arguments, 1)) or 0
    noteSimilarity(rank, arg(arguments, 2), arg(arguments, 4))
    highlight(rank)
    return true
  end
  if path == '/soundalike/result' then
    noteSimilarity(tonumber(arg(arguments, 1)), arg(arguments, 2), arg(arguments, 4))
    return true
  end
  if path == '/soundalike/results/begin' then
    similarities = {}
    highlight(0)
    setText('query', 'Like: ' .. label(arg(arguments, 1)))
    return true
  end
  if path == '/soundalike/selected' then
    local selected = arg(arguments, 1)
    status((selected == nil or selected == '') and 'Nothing selected in the DAW' or
      ('Selected: ' .. label(selected)))
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
    if arg(arguments, 1) == '/soundalike/similarity' then
      return true  -- a daemon from before calibrated similarities: the scores stay
    end
    status('Error: ' .. tostring(arg(arguments, 2) or '') .. ' (' .. tostring(arg(arguments, 1) or '') .. ')')
    return true
  end
  return false
end
