-- HeapLens in Neovim (0.7 or newer): the `heaplens lsp` language server on Python files and
-- MicroPython heap dumps (`*.mpheap`). Saving a Python file runs it on the board (or the
-- simulated Pico) and brings back diagnostics (a MemoryError explained: heap full or
-- fragmented), hovers with each line's allocations, and code lenses.
--
-- Put this file on your 'runtimepath' as lua/heaplens.lua (e.g. ~/.config/nvim/lua/) and add
--
--   require("heaplens").setup({
--     cmd = { "heaplens", "lsp" },          -- or the full path of the binary
--     settings = { board = "auto" },        -- every heaplens.* setting, without the prefix
--   })
--
-- to your init.lua. The simulated Pico's interpreter is found as `heaplens` finds it: the
-- HEAPLENS_MICROPYTHON environment variable, a .venv/bin/micropython above the binary, or
-- `micropython` on PATH.
local M = {}

-- HeapLens's own notifications (heap snapshots, gutter decorations, the REPL) feed the VS Code
-- extension's views; Neovim has none of those views, so they are received and dropped.
local ignored = {
  "heaplens/snapshot",
  "heaplens/decorations",
  "heaplens/boardStatus",
  "heaplens/jobStarted",
  "heaplens/replState",
  "heaplens/replOutput",
}

-- What the script printed, and its traceback, go to :messages as they arrive.
local function on_output(_, params)
  if params and params.text and params.text ~= "" then
    vim.schedule(function()
      vim.api.nvim_echo({ { params.text:gsub("\n$", ""), params.stream == "traceback" and "ErrorMsg" or "Normal" } }, true, {})
    end)
  end
end

-- How each run ended, in one line.
local function on_job_finished(_, params)
  if not params then
    return
  end
  local text
  if params.error ~= vim.NIL and params.error then
    text = "HeapLens: " .. params.kind .. " failed: " .. params.error.message
  elseif params.run and params.run ~= vim.NIL then
    local run = params.run
    local ending = (run.exception ~= vim.NIL and run.exception) or "ended normally"
    text = string.format("HeapLens: run %d: %s (%.2f s)", params.jobId, ending, run.elapsedMs / 1000)
  end
  if text then
    vim.schedule(function()
      vim.notify(text)
    end)
  end
end

function M.setup(opts)
  opts = opts or {}
  local handlers = {
    ["heaplens/output"] = on_output,
    ["heaplens/jobFinished"] = on_job_finished,
  }
  for _, method in ipairs(ignored) do
    handlers[method] = function() end
  end
  local config = {
    name = "heaplens",
    cmd = opts.cmd or { "heaplens", "lsp" },
    root_dir = opts.root_dir or vim.fn.getcwd(),
    init_options = { heaplens = opts.settings or {}, workspaceTrusted = true },
    handlers = handlers,
  }
  if vim.filetype and vim.filetype.add then
    vim.filetype.add({ extension = { mpheap = "mpheap" } })
  else
    vim.cmd("autocmd BufNewFile,BufRead *.mpheap setfiletype mpheap")
  end
  local client_id
  local function attach(buffer)
    if vim.lsp.start then
      -- Neovim 0.8+: one client, reused for every buffer.
      vim.lsp.start(config, { bufnr = buffer })
      return
    end
    -- Neovim 0.7: start the client once, then attach each buffer to it.
    if client_id == nil or vim.lsp.get_client_by_id(client_id) == nil then
      client_id = vim.lsp.start_client(config)
    end
    if client_id then
      vim.lsp.buf_attach_client(buffer, client_id)
    end
  end
  vim.api.nvim_create_autocmd("FileType", {
    pattern = { "python", "mpheap" },
    callback = function(args)
      attach(args.buf)
    end,
  })
  M.config = config
end

return M
