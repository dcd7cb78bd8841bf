# msp_embed_migrations(<target> <dir> <function>): compiles the versioned SQL files of <dir>
# (NNNN_name.sql) into <target> as msp::<function>(), so a service binary carries its own schema history.
set(MSP_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/EmbedMigrations.cmake)
function(msp_embed_migrations target dir function_name)
  file(GLOB sql_files CONFIGURE_DEPENDS ${dir}/*.sql)
  list(SORT sql_files)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${target}_migrations.cc)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DDIR=${dir} -DFUNC=${function_name} -P ${MSP_EMBED_SCRIPT}
    DEPENDS ${sql_files} ${MSP_EMBED_SCRIPT}
    COMMENT "Embedding SQL migrations of ${target}")
  target_sources(${target} PRIVATE ${out})
endfunction()
