"""Write a wrk Lua script that cycles through prepared raw HTTP requests.

    from bench.wrk_lua import write_lua, raw_post
    write_lua(path, [raw_post(host, path_qs, body, headers), ...], threads=2)

The requests are embedded in the script (in chunks of 500 per function, well under
LuaJIT's per-function constant limits). wrk runs one Lua state per thread: thread k
(1-based) sends requests k, k+T, k+2T, … so that the threads never send the same
request, and wraps to the start when it runs out. ``done`` prints, as lines the
benchmark parses: ``BENCH sent <n>`` (requests handed out), ``BENCH wrapped <n>``
(threads that wrapped: the set was too short for the run, requests repeated) and
``BENCH status <code> <n>`` for the non-2xx/3xx count wrk keeps.
"""

from __future__ import annotations

CHUNK = 500


def raw_post(host: str, path: str, body: str, headers: dict[str, str]) -> str:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body.encode('utf-8'))}")
    return "\r\n".join(lines) + "\r\n\r\n" + body


def _lua_string(text: str) -> str:
    out = ['"']
    for ch in text.encode("utf-8"):
        if ch in (0x22, 0x5C):
            out.append("\\" + chr(ch))
        elif 0x20 <= ch < 0x7F:
            out.append(chr(ch))
        else:
            out.append(f"\\{ch:03d}")
    out.append('"')
    return "".join(out)


def write_lua(path, requests: list[str], threads: int) -> None:
    parts = ["local R = {}\n"]
    for start in range(0, len(requests), CHUNK):
        parts.append(f"local function chunk{start // CHUNK}()\n")
        for i, req in enumerate(requests[start : start + CHUNK], start + 1):
            parts.append(f"R[{i}] = {_lua_string(req)}\n")
        parts.append("end\n")
    for start in range(0, len(requests), CHUNK):
        parts.append(f"chunk{start // CHUNK}()\n")
    parts.append(
        f"""
local N = #R
local T = {threads}
local counter = 1
local all = {{}}

function setup(thread)
  thread:set("tid", counter)
  table.insert(all, thread)
  counter = counter + 1
end

sent = 0
wrapped = 0

function request()
  local k = (tid - 1) + sent * T
  if k >= N then wrapped = 1 end
  sent = sent + 1
  return R[(k % N) + 1]
end

function done(summary, latency, requests)
  local s, w = 0, 0
  for _, t in ipairs(all) do
    s = s + (t:get("sent") or 0)
    w = w + (t:get("wrapped") or 0)
  end
  io.write(string.format("BENCH sent %d\\n", s))
  io.write(string.format("BENCH wrapped %d\\n", w))
  io.write(string.format("BENCH non2xx %d\\n", summary.errors.status))
  io.write(string.format("BENCH socket %d %d %d %d\\n", summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout))
end
"""
    )
    with open(path, "w", encoding="ascii") as fh:
        fh.write("".join(parts))
