// `dtlab bench schedules`: Lab 03's three pipeline schedules drawn from their action lists. Each is
// played in unit time by lab03::dry_run (a forward or backward of one micro-batch through one
// chunk takes 1, messages 0) and printed rank by rank, with its makespan, bubble and activations
// held, next to the formulas; --svg draws the same as a figure. With --impl mine, your schedules.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "dtlab/error.hpp"
#include "dtlab/io.hpp"
#include "dtlab/runtime.hpp"
#include "lab03/model_parallel.hpp"

namespace {

struct Drawn {
  std::string title;
  lab03::ScheduleRun run;
  int v = 1;
  double formula = 0;  // the bubble fraction theory gives
};

// Rank r's row: "F3" / "B3" (".c" for chunk c) in each time unit, "." where it idles.
std::vector<std::string> cells(const lab03::ScheduleRun& run, int r) {
  std::vector<std::string> row(std::size_t(run.makespan), ".");
  for (const auto& slot : run.slots[std::size_t(r)]) row[std::size_t(slot.start)] = lab03::to_string(slot.action);
  return row;
}

void print(const Drawn& d, int p, int m) {
  const double bubble = 1.0 - 2.0 * d.v * m / d.run.makespan;
  std::printf("%s: makespan %d units (formula 2(vm + p - 1) = %d), bubble %.1f%% (formula %.1f%%)\n", d.title.c_str(),
              d.run.makespan, 2 * (d.v * m + p - 1), 100 * bubble, 100 * d.formula);
  std::size_t width = 2;
  for (int r = 0; r < p; ++r)
    for (const auto& c : cells(d.run, r)) width = std::max(width, c.size());
  for (int r = 0; r < p; ++r) {
    std::printf("  rank %d |", r);
    for (const auto& c : cells(d.run, r)) std::printf(" %-*s", int(width), c.c_str());
    const int held = d.run.peak_activations[std::size_t(r)];
    std::printf("| holds at most %d %s\n", held, d.v > 1 ? "micro-batch chunks" : held == 1 ? "micro-batch" : "micro-batches");
  }
  std::printf("\n");
}

// The figure: one panel per schedule, a row per rank, a box per forward (blue) or backward
// (orange), darker for later chunks, labelled with the micro-batch.
std::string svg(const std::vector<Drawn>& drawn, int p) {
  constexpr int kUnit = 22, kRow = 22, kLeft = 64, kTitle = 26, kGap = 18;
  int width = 0, height = 0;
  for (const auto& d : drawn) {
    width = std::max(width, kLeft + d.run.makespan * kUnit + 10);
    height += kTitle + p * kRow + kGap;
  }
  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" "
      "font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      width, height);
  static constexpr const char* forward[] = {"#6baed6", "#2171b5", "#08306b"};
  static constexpr const char* backward[] = {"#fdae6b", "#e6550d", "#7f2704"};
  int y = 0;
  for (const auto& d : drawn) {
    out += fmt::format("<text x=\"4\" y=\"{}\" font-size=\"13\" font-weight=\"bold\">{}: {} units, bubble {:.0f}%</text>\n",
                       y + 17, d.title, d.run.makespan, 100 * d.formula);
    y += kTitle;
    for (int r = 0; r < p; ++r) {
      out += fmt::format("<text x=\"4\" y=\"{}\">rank {}</text>\n", y + r * kRow + 15, r);
      out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#f0f0f0\"/>\n", kLeft,
                         y + r * kRow + 1, d.run.makespan * kUnit, kRow - 2);
      for (const auto& slot : d.run.slots[std::size_t(r)]) {
        const bool f = slot.action.op == lab03::Op::forward;
        const int shade = std::min(slot.action.chunk, 2);
        out += fmt::format(
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" stroke=\"white\"/>"
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{}\">{}</text>\n",
            kLeft + slot.start * kUnit, y + r * kRow + 1, kUnit, kRow - 2, f ? forward[shade] : backward[shade],
            kLeft + slot.start * kUnit + kUnit / 2, y + r * kRow + 15, shade > 0 ? "white" : "black",
            slot.action.micro);
      }
    }
    y += p * kRow + kGap;
  }
  return out + "</svg>\n";
}

}  // namespace

int main(int argc, char** argv) {
  return dtlab::run_main(argc, argv, [](int argc, char** argv) {
    CLI::App app{"Lab 03's pipeline schedules, played in unit time and drawn from their action lists"};
    int p = 4, m = 8, v = 2;
    std::string svg_path;
    app.add_option("--stages,-p", p, "Pipeline stages (ranks)")->check(CLI::Range(1, 64));
    app.add_option("--micro-batches,-m", m, "Micro-batches per step")->check(CLI::Range(1, 1024));
    app.add_option("--chunks,-v", v, "Model chunks per rank of the interleaved schedule")->check(CLI::Range(1, 16));
    app.add_option("--svg", svg_path, "Also draw the schedules into this SVG file");
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      return app.exit(e);
    }
    std::printf("%d stages, %d micro-batches; F3 = forward of micro-batch 3, B3.1 = backward through chunk 1, "
                ". = idle; one unit = one forward or backward through one chunk\n\n",
                p, m);
    std::vector<Drawn> drawn;
    const auto add = [&](const std::string& title, const lab03::Schedule& s, int chunks) {
      Drawn d{title, lab03::dry_run(s, p, m, chunks), chunks, double(p - 1) / (chunks * m + p - 1)};
      if (!d.run.problem.empty()) throw dtlab::Error(fmt::format("{}: {}", title, d.run.problem));
      print(d, p, m);
      drawn.push_back(std::move(d));
    };
    add("GPipe", lab03::gpipe(p, m), 1);
    add("1F1B", lab03::one_f_one_b(p, m), 1);
    if (m % p == 0) add(fmt::format("interleaved 1F1B, v = {}", v), lab03::interleaved_1f1b(p, m, v), v);
    else std::printf("interleaved 1F1B needs m to be a multiple of p: skipped\n");
    if (!svg_path.empty()) {
      dtlab::write_file_atomic(svg_path, svg(drawn, p));
      std::printf("wrote %s\n", svg_path.c_str());
    }
    return 0;
  });
}
