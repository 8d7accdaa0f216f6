-- darktable_session.lua: the live darktable session of tests/integration/test_darktable_live.py.
--
-- Run inside the real darktable 4.2 (Lua API 9) as
--   darktable ... --luacmd "dofile('.../darktable_session.lua')"
-- with SHOOTWATCH_DT_OUT set to a folder for its four files:
--   session.log  what happened, for a person reading a failure
--   writes.tsv   every write it meant darktable to make: image id, what, value (tab-separated)
--   view.tsv     darktable's own view of every image at the end: id, rating (-1 rejected),
--                red, yellow, green, blue, purple (1/0), is_altered (1/0), then its tag names
--   done         "ok", or "error" when a step failed or a write did not take effect
--
-- It changes EXISTING images of the fixture library only, a step every second or three, for
-- about forty seconds, so that shootwatch's poller reads library.db several times while
-- darktable is still working. Then it quits darktable.
local dt = require "darktable"

local OUT = os.getenv("SHOOTWATCH_DT_OUT")
if not OUT then  -- nowhere to report: say so on stdout and quit rather than hang
  print("SESSION: SHOOTWATCH_DT_OUT not set - quitting")
  dt.control.sleep(5000)
  dt.gui.action("global/quit", 0, "", "", 1.0)
  return
end
local LOG = assert(io.open(OUT .. "/session.log", "w"))
local WRITES = assert(io.open(OUT .. "/writes.tsv", "w"))
local COLORS = {"red", "yellow", "green", "blue", "purple"}

local function log(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[#parts + 1] = tostring(select(i, ...)) end
  local line = os.date("!%H:%M:%S ") .. table.concat(parts, " ")
  LOG:write(line .. "\n"); LOG:flush(); print("SESSION: " .. line)
end

local failures = 0
local function expect(condition, what)
  if not condition then
    failures = failures + 1
    log("EXPECTATION FAILED:", what)
  end
end

local function sleep(ms) dt.control.sleep(ms) end

-- Every write is logged before it is made, so a write darktable lost is still on the list.
local function intend(img, what, value)
  WRITES:write(string.format("%d\t%s\t%s\n", img.id, what, tostring(value))); WRITES:flush()
  log("write", img.id, img.filename, what, value)
end

local function act(path, element, effect, size)
  local result = dt.gui.action(path, 0, element, effect, size or 1.0)
  log("action", path, element, effect, size or 1.0, "->", result, "hovered", dt.gui.hovered)
  return result
end

local function select_only(img)
  dt.gui.selection({img})
  sleep(200)
  local selected = dt.gui.selection()
  expect(#selected == 1 and selected[1].id == img.id, "only image " .. img.id .. " selected")
end

-- the Lua API's own setter (writes the star bits; -1 would be the legacy reject)
local function rate(img, stars)
  intend(img, "rating", stars)
  img.rating = stars
  expect(img.rating == stars, "image " .. img.id .. " rated " .. stars)
end

-- what the 'r' key does: toggles the reject bit and keeps the stars under it
local function toggle_reject(img)
  local want = img.rating ~= -1
  intend(img, "rejected", want and 1 or 0)
  select_only(img)
  act("views/thumbtable/rating", "reject", "activate")
  sleep(300)
  expect((img.rating == -1) == want, "image " .. img.id .. " rejected = " .. tostring(want))
end

-- what F1..F5 do (this path also rewrites the sidecar)
local function toggle_label(img, color)
  local want = not img[color]
  intend(img, "label:" .. color, want and 1 or 0)
  select_only(img)
  act("views/thumbtable/color label", color, "toggle")
  sleep(300)
  expect(img[color] == want, "image " .. img.id .. " " .. color .. " = " .. tostring(want))
end

local function has_tag(img, name)
  for _, tag in ipairs(dt.tags.get_tags(img)) do
    if tag.name == name then return true end
  end
  return false
end

local function attach(img, name)
  intend(img, "tag:" .. name, 1)
  dt.tags.attach(dt.tags.create(name), img)
  expect(has_tag(img, name), "image " .. img.id .. " tagged " .. name)
end

local function detach(img, name)
  intend(img, "tag:" .. name, 0)
  local tag = dt.tags.find(name)
  expect(tag ~= nil, "tag " .. name .. " exists")
  if tag then dt.tags.detach(tag, img) end
  expect(not has_tag(img, name), "image " .. img.id .. " untagged " .. name)
end

-- a darkroom edit: darktable writes the history when the darkroom moves to another image or
-- is left, so the "altered" write is checked after leaving
local function edit_exposure(img, value)
  intend(img, "altered", 1)
  if dt.gui.current_view() ~= dt.gui.views.darkroom then
    select_only(img)
    dt.gui.current_view(dt.gui.views.darkroom)
  else
    dt.gui.views.darkroom.display_image(img)
  end
  sleep(3500)
  local shown = dt.gui.views.darkroom.display_image()
  expect(shown ~= nil and shown.id == img.id, "darkroom shows image " .. img.id)
  act("iop/exposure/exposure", "value", "set", value)
  sleep(2000)
end

local function dump_view()
  local view = assert(io.open(OUT .. "/view.tsv", "w"))
  for _, img in ipairs(dt.database) do
    local fields = {tostring(img.id), tostring(img.rating)}
    for _, color in ipairs(COLORS) do fields[#fields + 1] = img[color] and "1" or "0" end
    fields[#fields + 1] = img.is_altered and "1" or "0"
    for _, tag in ipairs(dt.tags.get_tags(img)) do fields[#fields + 1] = tag.name end
    view:write(table.concat(fields, "\t") .. "\n")
  end
  view:close()
end

local ok, err = pcall(function()
  -- darktable runs this in its Lua thread while the GUI is still starting: a GUI call before
  -- gtk_main() owns the main context can deadlock (see tests/fixtures/darktable-4.2), so wait.
  sleep(5000)
  log("api", dt.configuration.api_version_string, "version", dt.configuration.version,
    "view", dt.gui.current_view(), "images", #dt.database)
  local image = {}
  for _, img in ipairs(dt.database) do image[img.id] = img end
  expect(#dt.database == 17, "the fixture's 17 images")

  -- ratings, through the Lua API
  rate(image[1], 3)
  sleep(1500)
  rate(image[6], 5)
  rate(image[11], 4)
  sleep(2500)

  -- colour labels, through the GUI action
  toggle_label(image[1], "green")
  sleep(1500)
  toggle_label(image[13], "red")     -- had red: off
  toggle_label(image[13], "yellow")
  sleep(2500)

  -- reject and un-reject, through the GUI rating action
  toggle_reject(image[16])            -- 0 stars, now rejected
  sleep(1500)
  toggle_reject(image[10])            -- rejected over 3 stars: back to 3 stars
  sleep(2500)

  -- tags, through the Lua API (one of them new to data.db)
  attach(image[7], "shootwatch|live")
  detach(image[7], "wedding|details")
  sleep(1500)
  attach(image[5], "portfolio")
  detach(image[2], "portfolio")
  attach(image[1], "shootwatch|live")
  sleep(2500)

  -- darkroom edits: one image never edited, one whose history was discarded
  edit_exposure(image[8], 0.5)
  edit_exposure(image[15], -0.3)
  dt.gui.current_view(dt.gui.views.lighttable)   -- leaving the darkroom writes the history
  sleep(3000)
  expect(image[8].is_altered, "image 8 altered after the darkroom")
  expect(image[15].is_altered, "image 15 altered after the darkroom")

  -- changes again after the darkroom, some to images already changed in this session
  rate(image[11], 2)
  toggle_label(image[6], "purple")
  sleep(1500)
  rate(image[8], 4)
  detach(image[1], "shootwatch|live")
  sleep(2000)

  dump_view()
  log("view written")
end)
if not ok then
  failures = failures + 1
  log("ERROR", err)
end
log("done, failures:", failures, "- quitting")
WRITES:close()
LOG:close()
local done = io.open(OUT .. "/done", "w")
done:write(failures == 0 and "ok\n" or "error\n")
done:close()
dt.gui.action("global/quit", 0, "", "", 1.0)
