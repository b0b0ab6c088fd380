-- wrk script for the soak (tests/soak/soak.sh): mixed benign and attack traffic.
--
-- Run with an even number of threads (-t2, -t4, ...): odd-numbered threads send benign
-- requests, even-numbered threads attacks, each cycling through its list. A thread knows the
-- class of every response it reads, so statuses are counted per class without mapping
-- responses back to requests (wrk does not tell which connection answered). Connections
-- are split evenly across threads, so both classes load the one Envoy worker at once.
-- Benign responses from the echo upstream carry the request path, which names the variant
-- (/soak/benign/... or, if an attack ever got through, /soak/attack/...).
--
-- done() prints one line: "SOAK_COUNTS {json}".

local UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
local BROWSER = {
  ["User-Agent"] = UA,
  ["Accept"] = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
  ["Accept-Language"] = "en-US,en;q=0.9",
  ["Accept-Encoding"] = "gzip, deflate, br",
  ["Cookie"] = "session_id=3f2a9c1e7b4d4e0fa1c2d3e4f5a6b7c8; theme=dark",
}

local function headers(extra)
  local h = {}
  for k, v in pairs(BROWSER) do h[k] = v end
  for k, v in pairs(extra or {}) do h[k] = v end
  return h
end

-- A JSON order of n items (about 150 bytes each).
local function json_order(n)
  local items = {}
  for i = 1, n do
    items[#items + 1] = string.format(
      '{"sku":"sku-%05d","qty":%d,"price":%d.%02d,"title":"blue running shoe %d","tags":["sport","summer"]}',
      1000 + i * 37, 1 + i % 4, 5 + i % 90, (i * 13) % 100, i)
  end
  return '{"order_id":"ord-20261127-0042","customer":{"name":"Alice Smith","email":"alice@example.com"},"items":['
    .. table.concat(items, ",") .. '],"note":"leave at the door"}'
end

-- An urlencoded form of n fields.
local function form(n)
  local f = { "name=Alice+Smith&email=alice%40example.com&city=Berlin&zip=10115" }
  for i = 1, n do
    f[#f + 1] = string.format("field%d=warm+cotton+jacket+size+%d", i, i % 12)
  end
  return table.concat(f, "&")
end

local BENIGN = {
  { "GET", "/soak/benign/search?q=running+shoes&category=sports&page=2&sort=price_asc&lang=en-US", {}, nil },
  { "POST", "/soak/benign/orders?src=web", { ["Content-Type"] = "application/json" }, json_order(12) },
  { "GET", "/soak/benign/product/sku-1234?ref=newsletter&utm_source=mail", {}, nil },
  { "POST", "/soak/benign/profile", { ["Content-Type"] = "application/x-www-form-urlencoded" }, form(30) },
}

local ATTACK = {
  { "GET", "/soak/attack/search?q=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E", {}, nil },
  { "GET", "/soak/attack/items?id=1%27%20OR%201%3D1--", {}, nil },
  { "POST", "/soak/attack/login", { ["Content-Type"] = "application/x-www-form-urlencoded" },
    "user=admin&pass=%27+UNION+SELECT+password+FROM+users--" },
  { "POST", "/soak/attack/orders", { ["Content-Type"] = "application/json" },
    '{"order_id":"x","note":"\\u003cscript\\u003ealert(1)\\u003c/script\\u003e"}' },
  { "GET", "/soak/attack/search?q=%253Cscript%253Ealert(1)%253C%252Fscript%253E", {}, nil },
  { "GET", "/soak/attack/download?file=..%2F..%2F..%2F..%2Fetc%2Fpasswd", {}, nil },
}

local threads = {}

function setup(thread)
  local n = #threads + 1
  thread:set("class", (n % 2 == 1) and "benign" or "attack")
  threads[n] = thread
end

local reqs = {}
local idx = 0
counts = {}
bad = {}

function init(args)
  local list = (class == "benign") and BENIGN or ATTACK
  for i, r in ipairs(list) do
    reqs[i] = wrk.format(r[1], r[2], headers(r[3]), r[4])
  end
end

function request()
  idx = idx % #reqs + 1
  return reqs[idx]
end

function response(status, hdrs, body)
  local k = tostring(status)
  counts[k] = (counts[k] or 0) + 1
  local want = (class == "benign") and 200 or 403
  if status ~= want and #bad < 5 then
    bad[#bad + 1] = string.sub(body or "", 1, 300)
  end
end

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

function done(summary, latency, requests)
  local out = {}
  for _, class in ipairs({ "benign", "attack" }) do
    local merged, samples = {}, {}
    for _, t in ipairs(threads) do
      if t:get("class") == class then
        for k, v in pairs(t:get("counts") or {}) do merged[k] = (merged[k] or 0) + v end
        for _, b in ipairs(t:get("bad") or {}) do samples[#samples + 1] = json_string(b) end
      end
    end
    local parts = {}
    for k, v in pairs(merged) do parts[#parts + 1] = string.format('"%s":%d', k, v) end
    out[#out + 1] = string.format('"%s":{"statuses":{%s},"unexpected_samples":[%s]}',
      class, table.concat(parts, ","), table.concat(samples, ","))
  end
  local e = summary.errors
  out[#out + 1] = string.format(
    '"wrk":{"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"latency_us":{"p50":%d,"p99":%d,"max":%d}}',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max)
  io.write("SOAK_COUNTS {" .. table.concat(out, ",") .. "}\n")
end
