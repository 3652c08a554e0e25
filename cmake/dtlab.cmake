# Helpers shared by the core, the labs and the tests.

# The flags every dtlab mpirun uses in tests: several ranks per core is normal on a 2-core machine,
# and idle ranks must yield the CPU instead of spinning, or oversubscribed runs crawl.
set(DTLAB_MPIEXEC_TEST_FLAGS --oversubscribe --bind-to none --mca mpi_yield_when_idle 1)
set(DTLAB_MPI_TEST_ENV OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1)

# dtlab_add_mpi_test(<target> RANKS <p>... [TIMEOUT <s>] [ARGS <arg>...])
# Registers one CTest test per rank count, named <target>.np<p>, each running the whole gtest binary
# under `mpirun -np <p>`. One launch per rank count keeps MPI start-up cost out of every test case.
function(dtlab_add_mpi_test target)
  cmake_parse_arguments(A "" "TIMEOUT" "RANKS;ARGS" ${ARGN})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  foreach(p IN LISTS A_RANKS)
    add_test(NAME ${target}.np${p}
             COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${p} ${DTLAB_MPIEXEC_TEST_FLAGS}
                     $<TARGET_FILE:${target}> ${A_ARGS})
    # CTest's scheduler sees each rank as one processor, so -j2 never runs two 4-rank jobs at once.
    set(procs ${p})
    if(procs GREATER 2)
      set(procs 2)
    endif()
    set_tests_properties(${target}.np${p} PROPERTIES
      TIMEOUT ${A_TIMEOUT} PROCESSORS ${procs} ENVIRONMENT "${DTLAB_MPI_TEST_ENV}" LABELS mpi)
  endforeach()
endfunction()

# dtlab_add_lab(<id> DIR <folder> EDITABLE <file>... [RANKS <p>] [STRATEGIES <name>...] [USES <lab>...])
# Builds one lab:
#   <id>_given               what students are given (DIR/include, DIR/given)
#   <id>_starter             the editable files of DIR/starter: the student's working copy
#   <id>_reference           reference/<id> (sources in the instructor tree; a prebuilt library in
#                            the student edition, prebuilt/lib/lib<id>_reference.a)
#   <id>_tests_public/hidden object libraries of DIR/tests/{public,hidden}, linked by the grader
#   <id>_bench               object library of DIR/bench: the timing and modeling program
#   <id>_<name>_reference    each program DIR/programs/<name>.cpp (train, bench_allreduce...), built
#   <id>_<name>_starter      on the reference and on the working copy; `dtlab train` and `dtlab bench`
#                            run them (cli/lab_programs.cpp). STRATEGIES: what the train program
#                            offers to `dtlab train --strategy`; USES: labs whose code the programs
#                            also run, from the same edition (Lab 02 runs on Lab 01's allreduce).
# and, for the suite, the tests linked with the reference (instructor tree) or the starter
# (student edition), each run on RANKS ranks (default 8). It writes build/autograder/<id>.json: how the grader
# compiles and links a submission exactly as these targets are built.
function(dtlab_add_lab id)
  cmake_parse_arguments(A "" "DIR;RANKS" "EDITABLE;STRATEGIES;USES" ${ARGN})
  if(NOT A_RANKS)
    set(A_RANKS 8)
  endif()
  set(dir ${PROJECT_SOURCE_DIR}/${A_DIR})
  # DIR/given: the code students are given. A given <stem>_instances.cpp compiles the editable
  # <stem>.cpp in its place (it includes it, then instantiates its templates for every element type
  # the lab needs), so that the student's file holds only the functions the handout asks for.
  file(GLOB given_src CONFIGURE_DEPENDS ${dir}/given/*.cpp)
  list(FILTER given_src EXCLUDE REGEX "_instances\\.cpp$")
  add_library(${id}_given STATIC ${given_src})
  target_include_directories(${id}_given PUBLIC ${dir}/include)
  target_link_libraries(${id}_given PUBLIC dtlab::core PRIVATE dtlab::internals)

  set(starter_src)
  set(json_instances "")
  foreach(file IN LISTS A_EDITABLE)
    get_filename_component(stem ${file} NAME_WE)
    set(wrapper ${dir}/given/${stem}_instances.cpp)
    if(EXISTS ${wrapper})
      list(APPEND starter_src ${wrapper})
      string(APPEND json_instances "\"${file}\": \"${wrapper}\", ")
    else()
      list(APPEND starter_src ${dir}/starter/${file})
    endif()
  endforeach()
  string(REGEX REPLACE ", $" "" json_instances "${json_instances}")
  add_library(${id}_starter STATIC ${starter_src})
  target_compile_options(${id}_starter PRIVATE -iquote ${dir}/starter)
  target_link_libraries(${id}_starter PUBLIC ${id}_given)

  set(ref_dir ${PROJECT_SOURCE_DIR}/reference/${id})
  set(prebuilt ${PROJECT_SOURCE_DIR}/prebuilt/lib/lib${id}_reference.a)
  if(EXISTS ${ref_dir})
    file(GLOB ref_src CONFIGURE_DEPENDS ${ref_dir}/*.cpp)
    foreach(file IN LISTS A_EDITABLE)
      get_filename_component(stem ${file} NAME_WE)
      if(EXISTS ${dir}/given/${stem}_instances.cpp)
        list(TRANSFORM ref_src REPLACE "^${ref_dir}/${file}$" ${dir}/given/${stem}_instances.cpp)
      endif()
    endforeach()
    add_library(${id}_reference STATIC ${ref_src})
    target_compile_options(${id}_reference PRIVATE -iquote ${ref_dir})
    target_link_libraries(${id}_reference PRIVATE dtlab::internals)
    target_link_libraries(${id}_reference PUBLIC ${id}_given)
    set(tested ${id}_reference)
    set(have_ref 1)
  elseif(EXISTS ${prebuilt})
    add_library(${id}_reference STATIC IMPORTED GLOBAL)
    set_target_properties(${id}_reference PROPERTIES IMPORTED_LOCATION ${prebuilt}
                          INTERFACE_LINK_LIBRARIES ${id}_given)
    set(tested ${id}_starter)
    set(have_ref 0)
  else()
    message(FATAL_ERROR "${id}: neither reference/${id} nor ${prebuilt} exists")
  endif()

  set(has_programs 0)
  if(EXISTS ${dir}/programs)
    set(has_programs 1)
  endif()
  set(kinds)
  foreach(kind public hidden)
    file(GLOB tests_src CONFIGURE_DEPENDS ${dir}/tests/${kind}/*.cpp)
    if(NOT tests_src)
      continue()
    endif()
    list(APPEND kinds ${kind})
    add_library(${id}_tests_${kind} OBJECT ${tests_src})
    target_include_directories(${id}_tests_${kind} PRIVATE ${dir}/tests/support)
    target_link_libraries(${id}_tests_${kind} PUBLIC ${id}_given dtlab_harness GTest::gtest)
    add_executable(${id}_${kind}_tests $<TARGET_OBJECTS:${id}_tests_${kind}>)
    target_link_libraries(${id}_${kind}_tests PRIVATE ${tested} dtlab_gtest_main)
    # A test may train with the lab's own training loop (Lab 05's methods reach their targets).
    if(has_programs)
      target_include_directories(${id}_tests_${kind} PRIVATE ${dir}/programs)
      target_link_libraries(${id}_tests_${kind} PUBLIC dtlab::program)
      target_link_libraries(${id}_${kind}_tests PRIVATE dtlab::program)
    endif()
    if(DTLAB_TESTS)
      dtlab_add_mpi_test(${id}_${kind}_tests RANKS ${A_RANKS} TIMEOUT 600)
    endif()
  endforeach()

  file(GLOB bench_src CONFIGURE_DEPENDS ${dir}/bench/*.cpp)
  add_library(${id}_bench OBJECT ${bench_src})
  target_link_libraries(${id}_bench PUBLIC ${id}_given dtlab_bench_main)
  # The benchmark judges results by the tests' own oracle where the lab has one.
  if(EXISTS ${dir}/tests/support)
    target_include_directories(${id}_bench PRIVATE ${dir}/tests/support)
  endif()
  add_executable(${id}_bench_reference $<TARGET_OBJECTS:${id}_bench>)
  target_link_libraries(${id}_bench_reference PRIVATE ${id}_reference dtlab_bench_main)
  # The same program on the student's working copy, to run and look at outside the grader.
  add_executable(${id}_bench_starter $<TARGET_OBJECTS:${id}_bench>)
  target_link_libraries(${id}_bench_starter PRIVATE ${id}_starter dtlab_bench_main)

  # The lab's programs, each on the reference and on the working copy (--impl reference|mine).
  # Where the lab has a CUDA reference (reference/CMakeLists.txt, configured after the labs: hence
  # the generator expressions), every reference program links it and is compiled with
  # DTLAB_LAB_CUDA, and a program's <name>_cuda.cpp joins it.
  file(GLOB program_src CONFIGURE_DEPENDS ${dir}/programs/*.cpp)
  list(FILTER program_src EXCLUDE REGEX "_cuda\\.cpp$")
  set(json_commands "")
  set(program_targets)
  foreach(src IN LISTS program_src)
    get_filename_component(name ${src} NAME_WE)
    set(entry "")
    foreach(impl reference mine)
      # Named like the bench programs: <id>_<name>_reference, and _starter on the working copy.
      set(code ${id}_reference)
      if(impl STREQUAL "mine")
        set(code ${id}_starter)
      endif()
      string(REPLACE "${id}_" "${id}_${name}_" exe ${code})
      add_executable(${exe} ${src})
      target_include_directories(${exe} PRIVATE ${dir}/programs)
      target_compile_definitions(${exe} PRIVATE DTLAB_IMPL="${impl}")
      target_link_libraries(${exe} PRIVATE ${code} dtlab::program)
      foreach(used IN LISTS A_USES)
        string(REPLACE "${id}_" "${used}_" used_code ${code})
        target_link_libraries(${exe} PRIVATE ${used_code})
      endforeach()
      if(impl STREQUAL "reference")
        set(has_cuda $<TARGET_EXISTS:${id}_reference_cuda>)
        if(EXISTS ${dir}/programs/${name}_cuda.cpp)
          target_sources(${exe} PRIVATE $<${has_cuda}:${dir}/programs/${name}_cuda.cpp>)
        endif()
        target_link_libraries(${exe} PRIVATE $<TARGET_NAME_IF_EXISTS:${id}_reference_cuda>)
        target_compile_definitions(${exe} PRIVATE $<${has_cuda}:DTLAB_LAB_CUDA>)
      endif()
      list(APPEND program_targets ${exe})
      string(APPEND entry "\"${impl}\": \"$<TARGET_FILE:${exe}>\", ")
    endforeach()
    set(strategies "")
    if(name STREQUAL "train")
      list(JOIN A_STRATEGIES "\", \"" strategies)
      if(strategies)
        set(strategies "\"${strategies}\"")
      endif()
    endif()
    if(json_commands)
      string(APPEND json_commands ",\n    ")
    endif()
    string(APPEND json_commands "\"${name}\": {${entry}\"strategies\": [${strategies}]}")
  endforeach()

  # Everything `dtlab grade` links a submission with; the dtlab program depends on it.
  set(grading ${id}_bench ${id}_bench_reference ${id}_given dtlab_gtest_main dtlab_bench_main dtlab_harness)
  foreach(kind ${kinds})
    list(APPEND grading ${id}_tests_${kind} ${id}_${kind}_tests)
  endforeach()
  if(NOT TARGET dtlab_grading)
    add_custom_target(dtlab_grading)
  endif()
  add_dependencies(dtlab_grading ${grading} ${program_targets})

  # What the grader needs to build a submission like the targets above.
  get_target_property(eigen_inc Eigen3::Eigen INTERFACE_INCLUDE_DIRECTORIES)
  get_target_property(fmt_inc fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
  get_target_property(fmt_defs fmt::fmt INTERFACE_COMPILE_DEFINITIONS)
  if(NOT fmt_defs)
    set(fmt_defs)
  endif()
  string(TOUPPER "${CMAKE_BUILD_TYPE}" config)
  separate_arguments(cfg_flags UNIX_COMMAND "${CMAKE_CXX_FLAGS} ${CMAKE_CXX_FLAGS_${config}}")
  set(compile ${cfg_flags} ${CMAKE_CXX20_STANDARD_COMPILE_OPTION} ${DTLAB_CXX_FLAGS})
  foreach(d EIGEN_DONT_PARALLELIZE ${fmt_defs})
    list(APPEND compile -D${d})
  endforeach()
  foreach(i ${PROJECT_SOURCE_DIR}/core/include ${dir}/include ${eigen_inc} ${fmt_inc})
    # -I/usr/include would break libstdc++'s #include_next: system folders stay implicit.
    if(NOT i MATCHES "^/usr(/local)?/include/?$")
      list(APPEND compile -I${i})
    endif()
  endforeach()
  # (dtlab_program for the tests that train with the lab's own loop, as its tests target does.)
  set(libs $<TARGET_FILE:${id}_given> $<$<BOOL:${has_programs}>:$<TARGET_FILE:dtlab_program>>
           $<TARGET_FILE:dtlab_core> $<TARGET_FILE:dtlab_harness>
           $<TARGET_FILE:fmt::fmt> $<TARGET_FILE:tomlplusplus::tomlplusplus> $<TARGET_FILE:ZLIB::ZLIB>
           ${MPI_CXX_LIBRARIES} ${muparser_LINK_LIBRARIES} ${DTLAB_GEMM_LIBRARY_FILE})
  if(DTLAB_HAVE_CUDA)
    list(APPEND libs $<TARGET_FILE:CUDA::cudart>)
  endif()
  if(DTLAB_GEMM_LIBRARY_FILE)
    # The serial build's own folder first: Debian's alternatives may point the same soname at a
    # threaded build.
    get_filename_component(gemm_dir ${DTLAB_GEMM_LIBRARY_FILE} DIRECTORY)
    list(APPEND libs -Wl,-rpath,${gemm_dir})
  endif()
  list(APPEND libs -pthread ${DTLAB_LINK_FLAGS})
  # A comma inside $<JOIN:...> below would end its list: -fsanitize=address,undefined needs $<COMMA>.
  list(TRANSFORM libs REPLACE "," "$<COMMA>")
  set(json_programs "")
  foreach(kind ${kinds})
    string(APPEND json_programs "\"${kind}\": {\"objects\": [\"$<JOIN:$<TARGET_OBJECTS:${id}_tests_${kind}>,\",\">\"], \"main\": [\"$<TARGET_FILE:dtlab_gtest_main>\", \"$<TARGET_FILE:GTest::gtest>\"], \"reference\": \"$<${have_ref}:$<TARGET_FILE:${id}_${kind}_tests>>\"},\n    ")
  endforeach()
  string(APPEND json_programs "\"bench\": {\"objects\": [\"$<JOIN:$<TARGET_OBJECTS:${id}_bench>,\",\">\"], \"main\": [\"$<TARGET_FILE:dtlab_bench_main>\"], \"reference\": \"$<TARGET_FILE:${id}_bench_reference>\"}")
  list(JOIN compile "\", \"" compile_json)
  list(JOIN A_EDITABLE "\", \"" editable_json)
  file(GENERATE OUTPUT ${PROJECT_BINARY_DIR}/autograder/${id}.json CONTENT "{
  \"lab\": \"${id}\",
  \"dir\": \"${dir}\",
  \"editable\": [\"${editable_json}\"],
  \"instances\": {${json_instances}},
  \"reference_sources\": $<IF:${have_ref},true,false>,
  \"cxx\": \"${CMAKE_CXX_COMPILER}\",
  \"compile\": [\"${compile_json}\"],
  \"libs\": [\"$<JOIN:${libs},\",\">\"],
  \"programs\": {
    ${json_programs}
  },
  \"commands\": {
    ${json_commands}
  }
}
")
endfunction()
