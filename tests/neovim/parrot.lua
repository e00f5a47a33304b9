-- Headless Neovim as a real second client of `heaplens lsp`, configured with the very file
-- the README tells people to use (editors/neovim/heaplens.lua): opens parrot.py, saves it,
-- waits for the MemoryError diagnostic, asks for the hover of line 10, and writes what it got
-- as JSON to $HEAPLENS_RESULT. Run by test_neovim.py:
--   nvim --headless -u NONE -c "luafile tests/neovim/parrot.lua"
local root = assert(os.getenv("HEAPLENS_ROOT"))
local result_file = assert(os.getenv("HEAPLENS_RESULT"))
package.path = root .. "/editors/neovim/?.lua;" .. package.path

local result = { steps = {} }
local function finish()
  local file = assert(io.open(result_file, "w"))
  file:write(vim.fn.json_encode(result))
  file:close()
  vim.cmd("qa!")
end
local function step(name)
  table.insert(result.steps, name)
end

local ok, failure = pcall(function()
  vim.cmd("filetype on")
  require("heaplens").setup({
    cmd = { assert(os.getenv("HEAPLENS_BIN")), "lsp" },
    settings = { board = "simulated", runTimeoutSeconds = 60 },
  })
  vim.cmd("edit " .. vim.fn.fnameescape(assert(os.getenv("HEAPLENS_SCRIPT"))))
  result.filetype = vim.bo.filetype
  assert(vim.wait(30000, function()
    local clients = vim.lsp.buf_get_clients(0)
    for _, client in pairs(clients) do
      if client.name == "heaplens" and client.initialized then
        return true
      end
    end
    return false
  end, 50), "the heaplens client did not attach")
  step("attached")
  vim.cmd("write")
  step("saved")
  assert(vim.wait(90000, function()
    return #vim.diagnostic.get(0, { severity = vim.diagnostic.severity.ERROR }) > 0
  end, 100), "no error diagnostic arrived")
  step("diagnosed")
  result.diagnostics = {}
  for _, d in ipairs(vim.diagnostic.get(0)) do
    table.insert(result.diagnostics, {
      lnum = d.lnum,
      severity = d.severity,
      message = d.message,
      source = d.source,
      code = d.user_data and d.user_data.lsp and d.user_data.lsp.code or vim.NIL,
    })
  end
  local params = { textDocument = { uri = vim.uri_from_bufnr(0) }, position = { line = 9, character = 6 } }
  local replies = vim.lsp.buf_request_sync(0, "textDocument/hover", params, 15000) or {}
  for _, reply in pairs(replies) do
    if reply.result and reply.result.contents then
      result.hover = reply.result.contents.value or reply.result.contents
    end
  end
  step("hovered")
end)
if not ok then
  result.error = tostring(failure)
end
finish()
