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
