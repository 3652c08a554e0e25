// dtlab gradescope: the autograder zip for Gradescope. dtlab release: the student edition.
#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "commands.hpp"
#include "dtlab/error.hpp"
#include "dtlab/io.hpp"
#include "grade.hpp"

namespace dtlab::cli {

namespace fs = std::filesystem;

namespace {

const fs::path kSourceDir = DTLAB_SOURCE_DIR;

// The files of the source tree: what git tracks (and what is new but not ignored) when it is a
// checkout, else everything but build folders. Relative paths.
std::vector<fs::path> source_files() {
  std::vector<fs::path> files;
  if (fs::exists(kSourceDir / ".git")) {
    const std::string cmd = "git -C '" + kSourceDir.string() + "' ls-files -z --cached --others --exclude-standard";
    std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
    if (!p) throw Error("cannot run git ls-files");
    std::string all;
    char buf[65536];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p.get())) > 0;) all.append(buf, n);
    for (std::size_t at = 0; at < all.size();) {
      const std::size_t end = all.find('\0', at);
      const fs::path f = all.substr(at, end - at);
      if (fs::is_regular_file(kSourceDir / f)) files.push_back(f);
      at = end + 1;
    }
    return files;
  }
  for (auto it = fs::recursive_directory_iterator(kSourceDir); it != fs::recursive_directory_iterator(); ++it) {
    const std::string name = it->path().filename().string();
    if (it->is_directory() && (name.rfind("build", 0) == 0 || name == ".git")) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file()) files.push_back(fs::relative(it->path(), kSourceDir));
  }
  return files;
}

bool executable(const fs::path& p) {
  return (fs::status(p).permissions() & fs::perms::owner_exec) != fs::perms::none;
}

class Zip {
 public:
  explicit Zip(const fs::path& path) : path_(path), tmp_(path.string() + ".partial") {
    a_ = archive_write_new();
    archive_write_set_format_zip(a_);
    if (archive_write_open_filename(a_, tmp_.c_str()) != ARCHIVE_OK)
      throw Error(fmt::format("cannot write {}: {}", path.string(), archive_error_string(a_)));
  }
  ~Zip() {
    if (a_) archive_write_free(a_);
  }
  void add(const std::string& name, const std::string& data, bool exec) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_size(e, la_int64_t(data.size()));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, exec ? 0755 : 0644);
    archive_write_header(a_, e);
    archive_write_data(a_, data.data(), data.size());
    archive_entry_free(e);
  }
  void close() {
    if (archive_write_close(a_) != ARCHIVE_OK) throw Error(fmt::format("cannot write {}", path_.string()));
    archive_write_free(a_);
    a_ = nullptr;
    fs::rename(tmp_, path_);
  }

 private:
  fs::path path_, tmp_;
  archive* a_ = nullptr;
};

std::string setup_sh() {
  return R"SH(#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu 24.04 or later:
# CMake 3.25+ is needed). It installs the packages dtlab needs and builds it, without the test
# suite and without -march=native: the image may run on other CPUs than the one it was built on.
set -euo pipefail
cd "$(dirname "$0")/dtlab"
./dtlab setup core
cmake --preset gradescope
cmake --build --preset gradescope -j "$(nproc)"
)SH";
}

std::string run_autograder(const std::string& lab) {
  return fmt::format(R"SH(#!/usr/bin/env bash
# Gradescope runs this for every submission. The grader always writes results.json; if it could
# not even start (a broken image), this script writes one that says so.
set -uo pipefail
root="${{DTLAB_AUTOGRADER_ROOT:-/autograder}}"
mkdir -p "$root/results"
dtlab="$root/source/dtlab/build-gradescope/bin/dtlab"
if [ ! -x "$dtlab" ]; then
  echo '{{"score": 0, "output": "The autograder is broken: dtlab was not built (setup.sh failed). Tell your instructor.", "tests": []}}' \
    > "$root/results/results.json"
  exit 0
fi
cd "$root"
"$dtlab" grade {} --submission "$root/submission" --results "$root/results/results.json" \
  --html "$root/results/report.html"
)SH",
                     lab);
}

int gradescope(const std::string& lab, const std::string& out) {
  (void)grader::load_lab_build(lab);  // the lab must exist
  Zip zip(out);
  zip.add("setup.sh", setup_sh(), true);
  zip.add("run_autograder", run_autograder(lab), true);
  std::size_t n = 0;
  for (const auto& f : source_files()) {
    zip.add("dtlab/" + f.string(), read_file(kSourceDir / f), executable(kSourceDir / f));
    ++n;
  }
  zip.close();
  std::printf("wrote %s: setup.sh, run_autograder and %zu files of dtlab (with reference solutions and hidden "
              "tests: keep it private)\n",
              out.c_str(), n);
  return 0;
}

bool student_visible(const fs::path& f) {
  const std::string s = f.generic_string();
  if (s.rfind("reference/", 0) == 0) return false;    // solutions
  if (s.find("/tests/hidden/") != std::string::npos) return false;
  if (s.rfind("tests/grader/", 0) == 0) return false;  // built from the reference
  return true;
}

int release(const std::string& out) {
  const fs::path dest = out;
  if (fs::exists(dest) && !fs::is_empty(dest))
    throw Error(fmt::format("{} exists and is not empty; give a new folder", out));
  // Prebuilt reference libraries: portable code (no -march=native), compiled in a build of their own,
  // one level below the source root like every preset's: with ccache, the Gradescope image's build
  // (the same flags) then finds these objects in its cache.
  const fs::path tmp = kSourceDir / fmt::format("build-release-{}", ::getpid());
  fs::create_directories(tmp);
  const std::string configure = fmt::format(
      "cmake -S '{}' -B '{}' -G Ninja -DCMAKE_BUILD_TYPE=Release -DDTLAB_MARCH=OFF -DDTLAB_TESTS=OFF "
      "-DDTLAB_BENCH=OFF -DDTLAB_CUDA=OFF > '{}/cmake.log' 2>&1",
      kSourceDir.string(), tmp.string(), tmp.string());
  const auto labs = grader::known_labs();
  std::string targets;
  for (const auto& l : labs) targets += " " + l + "_reference";
  std::printf("building the reference libraries of %s (portable code)...\n", fmt::format("{}", fmt::join(labs, ", ")).c_str());
  if (std::system(configure.c_str()) != 0 ||
      std::system(fmt::format("cmake --build '{}' --target{} > '{}/build.log' 2>&1", tmp.string(), targets, tmp.string()).c_str()) != 0)
    throw Error(fmt::format("building the reference libraries failed; see {}/cmake.log and {}/build.log", tmp.string(),
                            tmp.string()));
  std::size_t n = 0;
  for (const auto& f : source_files()) {
    if (!student_visible(f)) continue;
    fs::create_directories((dest / f).parent_path());
    fs::copy_file(kSourceDir / f, dest / f);
    ++n;
  }
  fs::create_directories(dest / "prebuilt" / "lib");
  for (const auto& l : labs)
    fs::copy_file(tmp / "lib" / fmt::format("lib{}_reference.a", l), dest / "prebuilt" / "lib" / fmt::format("lib{}_reference.a", l));
  fs::remove_all(tmp);
  write_file_atomic(dest / "prebuilt" / "README.md",
                    "# Prebuilt reference libraries\n\n"
                    "The student edition of dtlab has no reference sources. These static libraries are the reference "
                    "solutions, compiled without -march=native, so that `dtlab grade` can measure your code against "
                    "them (speed and cost items) and `dtlab bench allreduce` can show them.\n");
  std::printf("wrote the student edition to %s: %zu files, no reference sources, no hidden tests, the reference "
              "as prebuilt libraries (%zu)\n",
              out.c_str(), n, labs.size());
  return 0;
}

}  // namespace

void add_package(CLI::App& app, std::vector<std::unique_ptr<Command>>& cmds) {
  {
    auto& cmd = *cmds.emplace_back(std::make_unique<Command>());
    auto lab = std::make_shared<std::string>(), out = std::make_shared<std::string>();
    auto* c = app.add_subcommand("gradescope", "Write the Gradescope autograder zip of a lab");
    cmd.app = c;
    cmd.uses_mpi = false;
    c->add_option("lab", *lab, "The lab, e.g. lab01")->required();
    c->add_option("-o,--output", *out, "The zip to write")->required();
    cmd.run = [lab, out] { return gradescope(*lab, *out); };
  }
  {
    auto& cmd = *cmds.emplace_back(std::make_unique<Command>());
    auto student = std::make_shared<std::string>();
    auto* c = app.add_subcommand("release", "Write the student edition: no solutions, no hidden tests");
    cmd.app = c;
    cmd.uses_mpi = false;
    c->add_option("--student", *student, "The folder to write it to (new or empty)")->required();
    cmd.run = [student] { return release(*student); };
  }
}

}  // namespace dtlab::cli
