#include "protocol.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace dtlab::harness {

namespace {

char g_line[256];   // "<nonce> <world size>", as read from standard input
bool g_graded = false;

// The environment as passed to .preinit_array functions: getenv does not work yet that early (libc
// has not set up environ when the executable's preinit functions run).
const char* env_value(char** envp, const char* name) {
  const std::size_t n = std::strlen(name);
  for (char** e = envp; e && *e; ++e)
    if (std::strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
  return nullptr;
}

bool is_rank0(char** envp) {
  for (const char* v : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"})
    if (const char* r = env_value(envp, v)) return std::strcmp(r, "0") == 0;
  return true;  // a singleton
}

// Runs before every constructor of the program, submission code included.
void read_grader_line(int, char**, char** envp) {
  const char* g = env_value(envp, "DTLAB_GRADER");
  if (!g || std::strcmp(g, "1") != 0) return;
  g_graded = true;
  if (!is_rank0(envp)) return;
  std::size_t n = 0;
  while (n + 1 < sizeof g_line) {
    char c;
    if (read(STDIN_FILENO, &c, 1) != 1 || c == '\n') break;
    g_line[n++] = c;
  }
  g_line[n] = '\0';
}

__attribute__((section(".preinit_array"), used)) void (*const g_preinit)(int, char**, char**) =
    read_grader_line;

struct Parsed {
  std::string nonce;
  int world = 0;
};

const Parsed& parsed() {
  static const Parsed p = [] {
    Parsed out;
    const char* space = std::strchr(g_line, ' ');
    if (space) {
      out.nonce.assign(g_line, std::size_t(space - g_line));
      out.world = std::atoi(space + 1);
    }
    return out;
  }();
  return p;
}

}  // namespace

bool graded() { return g_graded; }
const std::string& nonce() { return parsed().nonce; }
int expected_world_size() { return g_graded ? parsed().world : 0; }

std::string begin_marker(const std::string& nonce) { return "@@DTLAB-RESULT-BEGIN " + nonce + "@@"; }
std::string end_marker(const std::string& nonce) { return "@@DTLAB-RESULT-END " + nonce + "@@"; }

void report(const std::string& json) {
  if (!g_graded || nonce().empty()) return;
  std::fflush(stdout);
  // Appended piece by piece: "\n" + std::string&& makes GCC 12 warn falsely (-Wrestrict).
  std::string block = "\n";
  for (const std::string& piece : {begin_marker(nonce()), json, end_marker(nonce())}) block += piece + "\n";
  std::fwrite(block.data(), 1, block.size(), stdout);
  std::fflush(stdout);
}

}  // namespace dtlab::harness
