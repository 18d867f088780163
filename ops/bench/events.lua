-- wrk script for POST /v1/events on a gate (README "Performance").
-- Every request carries fresh event IDs: thread number, a per-run nonce
-- and a counter make them unique, so the gate stores every one (no
-- duplicate short-cut).
--   wrk -t2 -c64 -d10s -s ops/bench/events.lua http://127.0.0.1:8081 -- BATCH TOKEN GATE NONCE [MODE [DEVICES]]
-- BATCH 1 posts one event object per request; N>1 posts an array of N.
-- MODE camera (default): camera detections, each on a new track.
-- MODE mix: a gate's device list (`bondgate bench` writes it: CAM-1..6,
--   IR-1..6, HB-1..8): half camera detections (tracks of 100
--   detections), one A/B pair of infrared breaks in 500 events (six
--   segments: a crossing every 500 events, far more than a real gate
--   sees), the rest heartbeats, round robin over the devices of each kind.
-- MODE hb: heartbeats from DEVICES devices (HB-1..HB-DEVICES), a gateway
--   aggregating many.
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
   mode = args[5] or "camera"
   devices = tonumber(args[6]) or 2000
   n = 0
   headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
end

local function event(i, now)
   return string.format('{"event_id":"CAM-%s-%d-%d","device_id":"CAM-%d","gate":"%s","time":"%s",' ..
      '"type":"camera.detection","object_class":"engine","track_id":"t-%s-%d-%d","direction":"in",' ..
      '"reads":[{"kind":"stand_tag","value":"STAND-%05d","confidence":0.97}],"snapshot":"nvr://cam-%d/%d.jpg"}',
      nonce, tid, i, tid, gate, now, nonce, tid, i, i % 100000, tid, i)
end

local function heartbeat(i, now, dev)
   return string.format('{"event_id":"HB-%s-%d-%d","device_id":"%s","gate":"%s","time":"%s","type":"heartbeat"}',
      nonce, tid, i, dev, gate, now)
end

local function mixed(i, now)
   local k = i % 500
   if k < 250 then
      local cam = (i % 6) + 1
      local track = math.floor(i / 100)
      return string.format('{"event_id":"CAM-%s-%d-%d","device_id":"CAM-%d","gate":"%s","time":"%s",' ..
         '"type":"camera.detection","object_class":"vehicle","track_id":"t-%s-%d-%d","direction":"in",' ..
         '"reads":[{"kind":"vehicle_plate","value":"P-%05d","confidence":0.97}]}',
         nonce, tid, i, cam, gate, now, nonce, tid, track, track % 100000)
   elseif k < 252 then
      -- k 250 and 251: the two beams of one segment, A then B
      local seg = (math.floor(i / 500) % 6) + 1
      local beam = "A"
      if k == 251 then beam = "B" end
      return string.format('{"event_id":"IR-%s-%d-%d","device_id":"IR-%d","gate":"%s","time":"%s",' ..
         '"type":"infrared.break","beam":"%s","segment":%d}', nonce, tid, i, seg, gate, now, beam, seg)
   end
   return heartbeat(i, now, "HB-" .. ((i % 8) + 1))
end

local function one(i, now)
   if mode == "mix" then
      return mixed(i, now)
   elseif mode == "hb" then
      return heartbeat(i, now, "HB-" .. (((i * 2 + tid) % devices) + 1))
   end
   return event(i, now)
end

function request()
   local now = os.date("!%Y-%m-%dT%H:%M:%SZ")
   local body
   if batch <= 1 then
      n = n + 1
      body = one(n, now)
   else
      local parts = {}
      for j = 1, batch do
         n = n + 1
         parts[j] = one(n, now)
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
