#include "submission.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "dtlab/error.hpp"
#include "dtlab/io.hpp"
#include "poisoned_mpi.hpp"
#include "process.hpp"

namespace dtlab::grader {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path build_dir() {
  // The grader is build/bin/dtlab; the lab descriptions are in build/autograder.
  return fs::read_symlink("/proc/self/exe").parent_path().parent_path();
}

std::vector<std::string> known_labs() {
  std::vector<std::string> labs;
  const fs::path dir = build_dir() / "autograder";
  if (fs::exists(dir))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".json") labs.push_back(e.path().stem().string());
  std::sort(labs.begin(), labs.end());
  return labs;
}

LabBuild load_lab_build(const std::string& lab) {
  const fs::path path = build_dir() / "autograder" / (lab + ".json");
  if (!fs::exists(path))
    throw Error(fmt::format("no lab named '{}'; this build has: {}", lab, fmt::join(known_labs(), ", ")));
  const json j = json::parse(read_file(path));
  LabBuild b;
  b.lab = j.at("lab");
  b.dir = j.at("dir").get<std::string>();
  b.editable = j.at("editable").get<std::vector<std::string>>();
  for (const auto& [file, wrapper] : j.at("instances").items()) b.instances[file] = wrapper.get<std::string>();
  b.reference_sources = j.at("reference_sources");
  b.cxx = j.at("cxx");
  b.compile = j.at("compile").get<std::vector<std::string>>();
  b.libs = j.at("libs").get<std::vector<std::string>>();
  for (const auto& [kind, p] : j.at("programs").items())
    b.programs[kind] = {p.at("objects").get<std::vector<std::string>>(),
                        p.at("main").get<std::vector<std::string>>(), p.at("reference")};
  return b;
}

std::string Source::describe() const {
  switch (kind) {
    case starter: return "the starter (your working copy)";
    case folder: return path.string();
    case archive: return path.string();
    case reference: return "the reference solution";
  }
  return "?";
}

namespace {

constexpr std::size_t kMaxSourceBytes = 1 << 20;

// A refusal: the submission is not gradable, and the message says why.
struct Refused {
  std::string why;
};

std::string read_regular(const fs::path& p) {
  if (fs::is_symlink(p)) throw Refused{fmt::format("{} is a symbolic link; submit the file itself", p.filename().string())};
  if (!fs::is_regular_file(p)) throw Refused{fmt::format("{} is not a regular file", p.string())};
  if (fs::file_size(p) > kMaxSourceBytes)
    throw Refused{fmt::format("{} is larger than {} bytes", p.filename().string(), kMaxSourceBytes)};
  return read_file(p);
}

// The editable files of a folder: at its top level, or anywhere below it if unique.
std::map<std::string, std::string> from_folder(const fs::path& dir, const std::vector<std::string>& names) {
  if (!fs::is_directory(dir)) throw Refused{fmt::format("{} is not a folder", dir.string())};
  std::map<std::string, std::string> files;
  for (const auto& name : names) {
    if (fs::exists(dir / name)) {
      files[name] = read_regular(dir / name);
      continue;
    }
    std::vector<fs::path> found;
    for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied);
         it != fs::recursive_directory_iterator(); ++it)
      if (!it->is_symlink() && it->path().filename() == name) found.push_back(it->path());
    if (found.size() > 1)
      throw Refused{fmt::format("the submission has {} files named {}; keep one", found.size(), name)};
    if (found.empty())
      throw Refused{fmt::format("the submission has no {} (it must contain: {})", name, fmt::join(names, ", "))};
    files[name] = read_regular(found[0]);
  }
  return files;
}

// The editable files of a zip or tar archive, read in memory: nothing of it touches the disk
// except those files, so paths like ../../etc cannot escape.
std::map<std::string, std::string> from_archive(const fs::path& path, const std::vector<std::string>& names) {
  archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_all(a);
  if (archive_read_open_filename(a, path.c_str(), 1 << 16) != ARCHIVE_OK) {
    const std::string msg = archive_error_string(a) ? archive_error_string(a) : "unknown error";
    archive_read_free(a);
    throw Refused{fmt::format("cannot read the archive {}: {}", path.string(), msg)};
  }
  std::map<std::string, std::string> files;
  archive_entry* e = nullptr;
  std::string problem;
  while (problem.empty() && archive_read_next_header(a, &e) == ARCHIVE_OK) {
    const std::string base = fs::path(archive_entry_pathname(e)).filename().string();
    if (std::find(names.begin(), names.end(), base) == names.end()) continue;
    if (archive_entry_filetype(e) != AE_IFREG) continue;
    if (files.count(base)) problem = fmt::format("the archive has two files named {}; keep one", base);
    else if (archive_entry_size(e) > la_int64_t(kMaxSourceBytes))
      problem = fmt::format("{} is larger than {} bytes", base, kMaxSourceBytes);
    else {
      std::string data(std::size_t(archive_entry_size(e)), '\0');
      if (archive_read_data(a, data.data(), data.size()) != la_ssize_t(data.size()))
        problem = fmt::format("cannot read {} from the archive", base);
      files[base] = std::move(data);
    }
  }
  archive_read_free(a);
  if (!problem.empty()) throw Refused{problem};
  for (const auto& n : names)
    if (!files.count(n))
      throw Refused{fmt::format("the archive has no {} (it must contain: {})", n, fmt::join(names, ", "))};
  return files;
}

// dtlab's internals that a submission can still name: their headers are off its include path
// (core/internal), but these are declared by the API's own headers (the op log a submission is
// graded by, the handles behind Comm) or could be declared by hand. They are poisoned in the
// prelude and looked for in the submission's object: one list for both.
const std::vector<std::string> kInternals = {"OpLog", "gather_logs", "Runtime", "run_main", "baseline",
                                             "CommAccess"};

// Included before the submission's own code: the headers it may use, then every MPI function and
// dtlab's internals made unusable (#pragma GCC poison), so that using them is a compile error
// that names them.
std::string prelude(const Rubric& rubric) {
  std::string p = "// Written by dtlab's grader before each submission file.\n"
                  "#include <bits/stdc++.h>\n"
                  "#include \"" + rubric.api_header + "\"\n"
                  "#include \"dtlab/comm.hpp\"\n#include \"dtlab/error.hpp\"\n";
  std::string names = DTLAB_POISONED_MPI;
  names += " dlopen dlsym dlvsym dlmopen";
  for (const auto& n : kInternals) names += " " + n;
  std::istringstream in(names);
  std::string line, w;
  int n = 0;
  while (in >> w) {
    line += " " + w;
    if (++n % 20 == 0) {
      p += "#pragma GCC poison" + line + "\n";
      line.clear();
    }
  }
  if (!line.empty()) p += "#pragma GCC poison" + line + "\n";
  return p;
}

Outcome tool(const std::vector<std::string>& argv, const fs::path& cwd, double seconds) {
  Spawn s;
  s.argv = argv;
  s.cwd = cwd;
  s.limits.wall_seconds = seconds;
  s.limits.memory_bytes = 8ull << 30;
  s.limits.output_bytes = 64 << 10;
  return run_sandboxed(s);
}

// What a submission's object may not contain: calls into MPI or the dynamic loader (to reach MPI
// at run time), dtlab's internals, and code that runs before main's own set-up.
std::string check_object(const fs::path& obj, const std::string& source, const std::vector<std::string>& banned) {
  const Outcome nm = tool({"nm", "-uC", obj.string()}, obj.parent_path(), 30);
  if (!nm.ok()) return fmt::format("cannot inspect {}: nm {}", source, nm.describe());
  static const std::regex forbidden(
      R"(\b(P?MPI_\w+|ompi_\w+|opal_\w+|orte_\w+|pmix_\w+|mca_\w+|dlopen|dlsym|dlvsym|dlmopen)\b|\bdtlab::()" +
      fmt::format("{}", fmt::join(kInternals, "|")) + R"()\b)");
  std::istringstream lines(nm.out);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_search(line, m, forbidden))
      return fmt::format("{} uses {}: submissions may not call MPI, the library collectives or "
                         "dtlab's internals; use Comm's point-to-point operations",
                         source, m.str());
    // nm -C prints "U name(arguments)": a banned name must be followed by its argument list, so
    // that banning f does not ban f_loss.
    for (const auto& b : banned)
      if (line.find(" " + b + "(") != std::string::npos)
        return fmt::format("{} calls {}, which this lab asks you to write yourself (the rubric forbids "
                           "it)",
                           source, b);
  }
  const Outcome sections = tool({"readelf", "-SW", obj.string()}, obj.parent_path(), 30);
  if (sections.out.find(".preinit_array") != std::string::npos)
    return fmt::format("{} puts code in .preinit_array, which runs before the test harness is set "
                       "up; submissions may not",
                       source);
  return "";
}

void make_readable(const fs::path& root) {
  // The sandbox user must read and run what the grader built.
  fs::permissions(root, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                            fs::perms::others_read | fs::perms::others_exec);
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    auto p = fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read;
    if (e.is_directory() || (fs::status(e).permissions() & fs::perms::owner_exec) != fs::perms::none)
      p |= fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec;
    fs::permissions(e.path(), p);
  }
}

}  // namespace

Prepared prepare(const Rubric& rubric, const LabBuild& lab, const Source& source, const fs::path& work) {
  Prepared r;
  fs::create_directories(work / "bin");
  try {
    if (std::set<std::string>(rubric.editable.begin(), rubric.editable.end()) !=
        std::set<std::string>(lab.editable.begin(), lab.editable.end()))
      throw Error(fmt::format("{}: 'editable' ({}) differs from what the build compiles ({})",
                              rubric.path.string(), fmt::join(rubric.editable, ", "), fmt::join(lab.editable, ", ")));
    if (source.kind == Source::reference) {
      for (const auto& [kind, prog] : lab.programs) {
        if (prog.reference.empty())
          throw Refused{fmt::format("this edition has no reference {} program (the reference sources "
                                    "are not part of it)",
                                    kind)};
        fs::copy_file(prog.reference, work / "bin" / kind);
        r.programs[kind] = work / "bin" / kind;
      }
      make_readable(work);
      r.ok = true;
      return r;
    }
    const auto files = source.kind == Source::starter ? from_folder(lab.dir / "starter", rubric.editable)
                       : source.kind == Source::folder ? from_folder(source.path, rubric.editable)
                                                       : from_archive(source.path, rubric.editable);
    fs::create_directories(work / "src");
    fs::create_directories(work / "obj");
    write_file_atomic(work / "prelude.hpp", prelude(rubric));
    std::vector<std::string> objects;
    for (const auto& [name, text] : files) {
      write_file_atomic(work / "src" / name, text);
      const fs::path obj = work / "obj" / (name + ".o");
      std::vector<std::string> cmd{lab.cxx};
      cmd.insert(cmd.end(), lab.compile.begin(), lab.compile.end());
      // A file with a given wrapper is compiled through it (the wrapper includes it from src/).
      const auto wrapper = lab.instances.find(name);
      const fs::path compiled = wrapper == lab.instances.end() ? work / "src" / name : wrapper->second;
      cmd.insert(cmd.end(), {"-iquote", (work / "src").string(), "-include", (work / "prelude.hpp").string(),
                             "-c", compiled.string(), "-o", obj.string()});
      const Outcome c = tool(cmd, work, 180);
      r.log += c.out + c.err;
      if (!c.ok()) {
        r.log += fmt::format("\ncompiling {} failed ({})\n", name, c.describe());
        if (r.log.find("poisoned") != std::string::npos)
          r.log += "note: a \"poisoned\" name is one submissions may not use: MPI itself, the library "
                   "collectives (dtlab/baseline.hpp) or dtlab's internals. Use Comm's point-to-point "
                   "operations.\n";
        return r;
      }
      if (const std::string bad = check_object(obj, name, rubric.forbidden); !bad.empty()) {
        r.log += bad + "\n";
        return r;
      }
      objects.push_back(obj.string());
    }
    for (const auto& [kind, prog] : lab.programs) {
      const fs::path exe = work / "bin" / kind;
      std::vector<std::string> cmd{lab.cxx, "-o", exe.string()};
      cmd.insert(cmd.end(), prog.objects.begin(), prog.objects.end());
      cmd.insert(cmd.end(), objects.begin(), objects.end());
      cmd.insert(cmd.end(), prog.main.begin(), prog.main.end());
      cmd.insert(cmd.end(), lab.libs.begin(), lab.libs.end());
      const Outcome l = tool(cmd, work, 180);
      if (!l.ok()) {
        r.log += l.out + l.err + fmt::format("\nlinking the {} program failed ({})\n", kind, l.describe());
        return r;
      }
      r.programs[kind] = exe;
    }
    make_readable(work);
    r.ok = true;
  } catch (const Refused& e) {
    r.log += e.why + "\n";
  }
  return r;
}

}  // namespace dtlab::grader
