-- wrk script for POST /v1/events on a gate (README "Performance").
-- Every request carries fresh event IDs: thread number, a per-run nonce
-- and a counter make them unique, so the gate stores every one (no
-- duplicate short-cut).
--   wrk -t2 -c64 -d10s -s ops/bench/events.lua http://127.0.0.1:8081 -- BATCH TOKEN GATE NONCE
-- BATCH 1 posts one event object per request; N>1 posts an array of N.
-- done() prints one line "BENCH {...}" that `bondgate bench run` reads.

local threads = {}

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

function init(args)
   batch = tonumber(args[1]) or 1
   token = args[2] or "gate-mro-1"
   gate = args[3] or "G-MRO-1"
   nonce = args[4] or "0"
   n = 0
   headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
end

local function event(i, now)
   return string.format('{"event_id":"CAM-%s-%d-%d","device_id":"CAM-%d","gate":"%s","time":"%s",' ..
      '"type":"camera.detection","object_class":"engine","track_id":"t-%s-%d-%d","direction":"in",' ..
      '"reads":[{"kind":"stand_tag","value":"STAND-%05d","confidence":0.97}],"snapshot":"nvr://cam-%d/%d.jpg"}',
      nonce, tid, i, tid, gate, now, nonce, tid, i, i % 100000, tid, i)
end

function request()
   local now = os.date("!%Y-%m-%dT%H:%M:%SZ")
   local body
   if batch <= 1 then
      n = n + 1
      body = event(n, now)
   else
      local parts = {}
      for j = 1, batch do
         n = n + 1
         parts[j] = event(n, now)
      end
      body = "[" .. table.concat(parts, ",") .. "]"
   end
   return wrk.format("POST", "/v1/events", headers, body)
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format('BENCH {"requests":%d,"duration_us":%d,"status_errors":%d,"connect_errors":%d,' ..
      '"read_errors":%d,"write_errors":%d,"timeouts":%d,"p50_us":%d,"p99_us":%d}\n',
      summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(99)))
end
