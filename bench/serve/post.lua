-- post.lua: wrk script for bench/serve/run.sh. Each request POSTs the next
-- body of BODIES (one JSON body per line, e.g. {"inputs": "a sentence"}),
-- round-robin per connection, so requests have the lengths of real text.
local bodies = {}
local path = os.getenv("BODIES")
for line in io.lines(path) do
  if #line > 0 then bodies[#bodies + 1] = line end
end
local counter = 0

function init(args)
  counter = math.random(#bodies) - 1
end

function request()
  counter = counter % #bodies + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, bodies[counter])
end
