// The labs' own programs behind dtlab's commands: `dtlab train --strategy ddp` runs Lab 02's train
// program, `dtlab bench allreduce` Lab 01's bench_allreduce program, each on the reference or on
// the student's working copy (--impl). A lab declares what it provides in its rubric; CMake writes
// it, with the programs' paths, into build/autograder/<lab>.json ("commands"). The dtlab program
// itself links no lab's code.
#pragma once

#include <string>

namespace dtlab::cli {

// When argv is a command a lab's program provides, replaces this process with that program (the
// arguments after the command words, without --impl); else returns, and dtlab parses argv itself.
// Throws dtlab::Error for a strategy nobody provides, naming those that exist.
void run_lab_program_if_asked(int argc, char** argv);

// "ddp (lab02), ..." for --help: the strategies of this build's labs.
std::string lab_strategies_help();

}  // namespace dtlab::cli
