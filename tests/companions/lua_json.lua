-- JSON encoding for the test harnesses' output (dofile this file; it returns the encoder).
-- Tables with keys 1..n are arrays; the empty table is an empty array; `null` (optional) is a
-- sentinel value encoded as JSON null.
return function(value, null)
  local function encode(v)
    local t = type(v)
    if v == nil or (null ~= nil and v == null) then return 'null' end
    if t == 'boolean' then return tostring(v) end
    if t == 'number' then
      if math.type(v) == 'integer' then return string.format('%d', v) end
      if v ~= v or v == math.huge or v == -math.huge then return 'null' end
      return string.format('%.17g', v)
    end
    if t == 'string' then
      return '"' .. v:gsub('[%c"\\]', function(ch)
        return string.format('\\u%04x', string.byte(ch))
      end) .. '"'
    end
    if t == 'table' then
      if #v > 0 or next(v) == nil then
        local parts = {}
        for i = 1, #v do parts[i] = encode(v[i]) end
        return '[' .. table.concat(parts, ',') .. ']'
      end
      local keys = {}
      for k in pairs(v) do if type(k) == 'string' then keys[#keys + 1] = k end end
      table.sort(keys)
      local parts = {}
      for _, k in ipairs(keys) do
        if type(v[k]) ~= 'function' then parts[#parts + 1] = encode(k) .. ':' .. encode(v[k]) end
      end
      return '{' .. table.concat(parts, ',') .. '}'
    end
    return 'null'
  end
  return encode(value)
end
