-- The library's version, readable without write permission (FCALL_RO).
redis.register_function{
  function_name = 'ingest_version',
  callback = function()
    return VERSION
  end,
  flags = {'no-writes'},
}
