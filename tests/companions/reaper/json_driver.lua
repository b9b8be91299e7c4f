-- Decodes each line of stdin with the REAPER script's JSON decoder and writes, per line, the
-- value re-encoded as JSON, or ERROR and the message. Usage: lua5.4 json_driver.lua SCRIPT
SOUNDALIKE_AS_MODULE = true
local here = arg[0]:match('^(.*)[/\\]') or '.'
local encode = dofile(here .. '/../lua_json.lua')
local M = dofile(arg[1])
for line in io.lines() do
  local ok, value = pcall(M.json.decode, line)
  if ok then
    io.write(encode(value, M.json.null), '\n')
  else
    io.write('ERROR ', (tostring(value):gsub('\n', ' ')), '\n')
  end
end
