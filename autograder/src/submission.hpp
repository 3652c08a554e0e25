// Turning a submission into programs the grader can run: collect the editable files, compile them
// with MPI made unusable, check the objects, link them with the lab's tests and benchmark.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "rubric.hpp"

namespace dtlab::grader {

// How the build made this lab's programs (build/autograder/<lab>.json, written by CMake).
struct LabBuild {
  std::string lab;
  std::filesystem::path dir;
  std::vector<std::string> editable;
  // An editable file's given wrapper (DIR/given/<stem>_instances.cpp), compiled in its place: it
  // includes the submitted file and instantiates its templates.
  std::map<std::string, std::filesystem::path> instances;
  bool reference_sources = false;
  std::string cxx;
  std::vector<std::string> compile;
  std::vector<std::string> libs;
  struct Program {
    std::vector<std::string> objects;
    std::vector<std::string> main;
    std::string reference;  // the program linked with the reference, if built
  };
  std::map<std::string, Program> programs;  // public, hidden, bench
};

// Finds and reads build/autograder/<lab>.json next to the running dtlab; names the labs it knows
// when lab is not one of them.
LabBuild load_lab_build(const std::string& lab);
std::vector<std::string> known_labs();
std::filesystem::path build_dir();

struct Source {
  enum Kind { starter, folder, archive, reference } kind = starter;
  std::filesystem::path path;  // folder or archive
  std::string describe() const;
};

struct Prepared {
  bool ok = false;
  std::string log;                                    // what the compiler said, or why it refused
  std::map<std::string, std::filesystem::path> programs;  // public, hidden, bench
};

// Builds the submission in work (a fresh folder). Never throws for a bad submission: the reason
// goes in log, with ok false.
Prepared prepare(const Rubric& rubric, const LabBuild& lab, const Source& source,
                 const std::filesystem::path& work);

}  // namespace dtlab::grader
