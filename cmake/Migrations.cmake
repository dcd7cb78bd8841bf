# msp_embed_migrations(<target> <dir> <function>): compiles the versioned SQL files of <dir>
# (NNNN_name.sql) into <target> as msp::<function>(), so a service binary carries its own schema history.
set(MSP_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/EmbedMigrations.cmake)
function(msp_embed_migrations target dir function_name)
  file(GLOB sql_files CONFIGURE_DEPENDS ${dir}/*.sql)
  list(SORT sql_files)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${target}_migrations.cc)
  # The list of files, rewritten only when it changes: a deleted migration must re-embed too
  # (a shorter DEPENDS list alone does not make the output stale).
  set(listing ${CMAKE_CURRENT_BINARY_DIR}/${target}_migrations.list)
  string(REPLACE ";" "\n" listing_text "${sql_files}")
  if(EXISTS ${listing})
    file(READ ${listing} previous)
  else()
    set(previous "")
  endif()
  if(NOT previous STREQUAL listing_text)
    file(WRITE ${listing} "${listing_text}")
  endif()
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DDIR=${dir} -DFUNC=${function_name} -P ${MSP_EMBED_SCRIPT}
    DEPENDS ${sql_files} ${listing} ${MSP_EMBED_SCRIPT}
    COMMENT "Embedding SQL migrations of ${target}")
  target_sources(${target} PRIVATE ${out})
endfunction()
