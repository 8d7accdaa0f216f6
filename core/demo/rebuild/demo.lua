-- darktable 4.2 (Lua API 9.0.0), run as:  darktable ... --luacmd 'dofile("demo.lua")'
-- The demo library's darktable state, the same story as the test fixture's (tests/fixtures/
-- darktable-4.2/scripts/fixture.lua) told on the demo's photos. Imports photos, sets ratings /
-- reject / colour labels / tags / metadata, edits in the darkroom
-- through GUI actions, applies a style, duplicates, resets one history, exports via the export
-- module (the path that sets export_timestamp), re-edits one exported image, then quits.
local dt = require "darktable"
local ROOT = os.getenv("DT_DEMO_ROOT") or error("DT_DEMO_ROOT not set")
local LOG = io.open(ROOT .. "/logs/demo_lua.log", "w")
local function log(...)
  local t = {}
  for i = 1, select("#", ...) do t[#t + 1] = tostring(select(i, ...)) end
  local line = os.date("!%H:%M:%S ") .. table.concat(t, " ")
  LOG:write(line .. "\n"); LOG:flush(); print("DEMO: " .. line)
end
local function sleep(ms) dt.control.sleep(ms) end
local function act(path, instance, element, effect, size)
  local r = dt.gui.action(path, instance, element, effect, size)
  log("action", path, element, effect, size, "->", r)
  return r
end
local failures = 0
local function expect(cond, what) if not cond then failures = failures + 1; log("EXPECTATION FAILED:", what) end end

local ok, err = pcall(function()
  -- darktable 4.2 runs this script in its Lua thread while the GUI is still starting; a GTK-wrapped
  -- Lua call made before gtk_main() owns the main context can deadlock (observed once, with the
  -- /usr/share/darktable/luarc "scripts installer"). So wait until the GUI is up before touching it.
  sleep(5000)
  log("api", dt.configuration.api_version_string, "version", dt.configuration.version, "view", dt.gui.current_view())
  local P = ROOT .. "/photos"
  local mtn, city = {}, {}  -- the mountains shoot, the city-night shoot (a burst, then one more)
  -- 1. import file by file (synchronous; ids 1..10 mountains, 11..16 city night). IMG_0011 and
  --    the home shoot are left out.
  for n = 1, 10 do
    mtn[n] = dt.database.import(string.format("%s/2024-10-05_mountains/IMG_%04d.JPG", P, n))
    log("imported", mtn[n].id, mtn[n].filename, "rating", mtn[n].rating)
  end
  for n = 101, 106 do
    city[n] = dt.database.import(string.format("%s/2024-11-16_city-night/DSC_%04d.JPG", P, n))
    log("imported", city[n].id, city[n].filename, "rating", city[n].rating)
  end
  sleep(3000)

  -- 2. ratings through the Lua API (-1 = reject: sets star bits to 6 and DT_IMAGE_REJECTED)
  mtn[2].rating = 4; mtn[3].rating = 3; mtn[4].rating = 5; mtn[5].rating = 0
  mtn[6].rating = 2; mtn[7].rating = 0; mtn[9].rating = -1; mtn[10].rating = 3
  city[102].rating = 4; city[103].rating = 5; city[104].rating = 2; city[106].rating = 0

  -- 3. colour labels through the GUI colour-label action (what F1..F5 do; this path also rewrites
  --    the XMP sidecar. The Lua setter img.red = true only updates the DB, not the sidecar.)
  local function label(img, color)
    dt.gui.selection({img})
    act("views/thumbtable/color label", 0, color, "toggle", 1.0)
    sleep(300)
    expect(img[color] == true, img.filename .. " " .. color)
  end
  label(mtn[2], "red"); label(mtn[3], "yellow"); label(mtn[4], "green"); label(mtn[4], "blue")
  label(mtn[5], "purple"); label(city[103], "red")

  -- 4. hierarchical tags and metadata
  local t_trail = dt.tags.create("mountains|trail")
  local t_water = dt.tags.create("mountains|water")
  local t_details = dt.tags.create("mountains|details")
  local t_lake = dt.tags.create("places|lake")
  local t_pf = dt.tags.create("portfolio")
  local t_city = dt.tags.create("city")
  dt.tags.attach(t_trail, mtn[2]); dt.tags.attach(t_pf, mtn[2]); dt.tags.attach(t_trail, mtn[3])
  dt.tags.attach(t_water, mtn[4]); dt.tags.attach(t_lake, mtn[4]); dt.tags.attach(t_details, mtn[7])
  dt.tags.attach(t_city, city[102]); dt.tags.attach(t_pf, city[102])
  mtn[2].title = "The trail to the pass"; mtn[2].creator = "Jane Photographer"
  city[102].description = "Towers after dark"; city[102].creator = "Jane Photographer"
  log("ratings/labels/tags/metadata set")
  sleep(1000)

  -- 5. reject IMG_0010 with the GUI rating action (what the 'r' key does): keeps the 3 star
  --    bits and only sets DT_IMAGE_REJECTED
  dt.gui.selection({mtn[10]})
  log("hovered", dt.gui.hovered, "action_images", #dt.gui.action_images)
  act("views/thumbtable/rating", 0, "reject", "activate", 1.0)
  sleep(500)
  expect(mtn[10].rating == -1, "IMG_0010 rejected")

  -- 6. darkroom edits through GUI actions
  dt.gui.selection({mtn[2]})
  dt.gui.current_view(dt.gui.views.darkroom)
  sleep(4000)
  log("view", dt.gui.current_view(), "darkroom shows", dt.gui.views.darkroom.display_image())
  act("iop/exposure/exposure", 0, "value", "set", 0.7)
  sleep(2500)

  dt.gui.views.darkroom.display_image(mtn[3]); sleep(3000)
  act("iop/exposure/exposure", 0, "value", "set", 0.3)
  sleep(1500)
  act("iop/flip/rotate 90 degrees CW", 0, "", "", 1.0)
  sleep(2500)

  dt.gui.views.darkroom.display_image(mtn[8]); sleep(3000)   -- opened in darkroom, nothing changed

  dt.gui.views.darkroom.display_image(city[102]); sleep(3000)
  act("iop/exposure/exposure", 0, "value", "set", 1.0)
  sleep(2500)

  dt.gui.views.darkroom.display_image(city[105]); sleep(3000)
  act("iop/exposure/exposure", 0, "value", "set", -0.4)
  sleep(2500)

  -- duplicate of IMG_0003 (version 1 -> sidecar IMG_0003_01.JPG.xmp), edited differently
  local dup = mtn[3]:duplicate()
  log("duplicate", dup.id, dup.filename, "duplicate_index", dup.duplicate_index)
  dt.gui.views.darkroom.display_image(dup); sleep(3000)
  act("iop/exposure/exposure", 0, "value", "set", -0.5)
  sleep(2500)
  dup.rating = 2
  dt.tags.attach(t_trail, dup)

  dt.gui.current_view(dt.gui.views.lighttable)   -- leaving the darkroom writes the history
  sleep(3000)
  for _, im in ipairs({mtn[2], mtn[3], mtn[8], city[102], city[105], dup}) do
    log("after darkroom", im.id, im.filename, "altered", im.is_altered, "rating", im.rating)
  end

  -- 7. style created from IMG_0002's history, applied to IMG_0004 and DSC_0104
  local st = dt.styles.create(mtn[2], "demo-look", "exposure +0.7 from IMG_0002")
  log("style", st.name, "items", #st)
  dt.styles.apply(st, mtn[4])
  dt.styles.apply(st, city[104])
  sleep(1000)

  -- 8. DSC_0105: discard history (edited, then reset to original)
  city[105]:reset()
  sleep(1000)

  -- 9. export with the export module (dt_control_export: sets export_timestamp + darktable|exported)
  local to_export = {mtn[2], mtn[4], mtn[5], city[102]}
  dt.gui.selection(to_export)
  sleep(500)
  log("export: hovered", dt.gui.hovered, "action_images", #dt.gui.action_images)
  act("lib/export/export", 0, "", "", 1.0)
  local function exported_count()
    local c = 0
    for _, im in ipairs(to_export) do
      local f = io.open(im.path .. "/darktable_exported/" .. im.filename:gsub("%.JPG$", ".jpg"), "r")
      if f then c = c + 1; f:close() end
    end
    return c
  end
  for i = 1, 240 do
    if exported_count() == #to_export then break end
    sleep(500)
  end
  sleep(2000)
  log("exported files:", exported_count(), "of", #to_export)
  expect(exported_count() == #to_export, "all 4 exports written")

  -- 10. DSC_0102 re-edited AFTER its export (change_timestamp > export_timestamp)
  sleep(1500)
  dt.gui.selection({city[102]})
  dt.gui.current_view(dt.gui.views.darkroom); sleep(4000)
  log("darkroom shows", dt.gui.views.darkroom.display_image())
  act("iop/exposure/exposure", 0, "value", "set", 1.3)
  sleep(2500)
  dt.gui.current_view(dt.gui.views.lighttable); sleep(3000)

  -- expectations (darktable's own notion of "altered" = history_hash current != basic/auto)
  local want_altered = {[2]=true, [3]=true, [4]=true, [12]=true, [14]=true, [17]=true}
  for _, im in ipairs(dt.database) do
    local labels = {}
    for _, c in ipairs({"red", "yellow", "green", "blue", "purple"}) do if im[c] then labels[#labels + 1] = c end end
    local tags = {}
    for _, t in ipairs(dt.tags.get_tags(im)) do tags[#tags + 1] = t.name end
    log(string.format("final id=%d %s v%d rating=%d altered=%s labels=[%s] tags=[%s]",
      im.id, im.filename, im.duplicate_index, im.rating, tostring(im.is_altered),
      table.concat(labels, ","), table.concat(tags, ",")))
    expect((want_altered[im.id] or false) == im.is_altered, "altered state of id " .. im.id)
  end
  expect(#dt.database == 17, "17 images in library")
end)
if not ok then log("ERROR", err); failures = failures + 1 end
log("done, failures:", failures, "- quitting")
LOG:close()
local f = io.open(ROOT .. "/logs/demo_lua.done", "w"); f:write(failures == 0 and "ok\n" or "error\n"); f:close()
dt.gui.action("global/quit", 0, "", "", 1.0)
