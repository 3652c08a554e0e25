// Errors dtlab reports to its users.
#pragma once

#include <stdexcept>
#include <string>

namespace dtlab {

// Every error a user can cause (bad input, bad file, wrong rank count) is a dtlab::Error whose
// message names what was wrong and what was expected. Programs print it and exit non-zero.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown by lab starter stubs. The grader reports it as "not implemented", not as a crash.
class NotImplemented : public Error {
 public:
  explicit NotImplemented(const std::string& what) : Error(what + " is not implemented yet") {}
};

}  // namespace dtlab
