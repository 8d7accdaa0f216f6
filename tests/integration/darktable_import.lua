-- darktable_import.lua: darktable's side of tests/integration/test_darktable_sidecars_live.py.
--
-- Run inside the real darktable 4.2 as
--   darktable ... --luacmd "dofile('.../darktable_import.lua')"
-- with SHOOTWATCH_DT_IMPORT set to the folder to import and SHOOTWATCH_DT_OUT to a folder for
-- "done" ("ok", or "error ..." when the import failed). darktable reads each image's XMP
-- sidecar as it imports it; the test then reads library.db. Then it quits darktable.
local dt = require "darktable"

local OUT = os.getenv("SHOOTWATCH_DT_OUT")
local FOLDER = os.getenv("SHOOTWATCH_DT_IMPORT")
local ok, err = pcall(function() dt.database.import(FOLDER) end)
local done = assert(io.open(OUT .. "/done", "w"))
done:write(ok and "ok" or ("error " .. tostring(err)))
done:close()
dt.gui.action("global/quit", 0, "", "", 1.0)
