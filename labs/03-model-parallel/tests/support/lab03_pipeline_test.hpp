// Checks of Lab 03's pipeline shared by the public and hidden tests: one step against the double
// precision oracle, the op log against the schedule, and data x pipeline training against one process.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "dtlab/oplog.hpp"
#include "lab03_test.hpp"

namespace lab03::test {

enum class Kind { gpipe, one_f_one_b, interleaved };

inline const char* name(Kind k) {
  return k == Kind::gpipe ? "GPipe" : k == Kind::one_f_one_b ? "1F1B" : "interleaved 1F1B";
}

inline Schedule schedule_of(Kind kind, int p, int m, int v) {
  switch (kind) {
    case Kind::gpipe: return gpipe(p, m);
    case Kind::one_f_one_b: return one_f_one_b(p, m);
    default: return interleaved_1f1b(p, m, v);
  }
}

inline int forwards_before_first_backward(const std::vector<Action>& actions) {
  int n = 0;
  for (const Action& a : actions) {
    if (a.op == Op::backward) break;
    n += a.op == Op::forward;
  }
  return n;
}

// One step of a pipeline of group.size() stages (v chunks each) from a random model, for each m:
// the loss on the last stage's rank, 0 elsewhere, and every chunk's gradients within the oracle's
// bound (the sums split over m micro-batches, scaled by 1/m). Each pipeline runs the step twice,
// so gradients left from an earlier step show.
inline void expect_step_matches_oracle(const Comm& group, Kind kind, const std::vector<int>& ms, int v = 1,
                                       const dtlab::MlpConfig& config = pp_model(), int batch = 24,
                                       std::uint64_t seed = 31) {
  const Case k = clean_case(config, batch, seed);
  const dtlab::Mlp& whole = k.model;
  const Batch& b = k.batch;
  const Oracle& o = k.oracle;
  const Batch other = random_batch(config, batch, seed + 2);
  for (const int m : ms) {
    SCOPED_TRACE(testing::Message() << name(kind) << ", m=" << m << ", v=" << v);
    Pipeline pipe(config, group, v);
    pipe.load(whole);
    const Schedule s = schedule_of(kind, group.size(), m, v);
    pipe.run(s[std::size_t(group.rank())], m, other.x, other.y);
    const float loss = pipe.run(s[std::size_t(group.rank())], m, b.x, b.y);
    if (group.rank() == group.size() - 1)
      EXPECT_NEAR(loss, o.loss, 1e-5 * std::abs(o.loss)) << "the batch's mean loss, on the last stage's rank";
    else
      EXPECT_EQ(loss, 0.0f) << "only the rank with the last stage has the loss";
    for (int c = 0; c < pipe.chunks(); ++c) {
      const dtlab::MlpStage& st = pipe.stage(c);
      const std::size_t at = whole.layers()[std::size_t(st.first())].begin();
      const std::string bad = outside_bound(o, st.grads(), at, m + 2,
                                            "chunk " + std::to_string(c) + " (layers " + std::to_string(st.first()) +
                                                ".." + std::to_string(st.last() - 1) + ")");
      ASSERT_EQ(bad, "");
    }
  }
}

// What one action leaves in the op log, as text: "F3 layers 2..", "send to 1 tag 7", ...
inline std::string log_entry(const Pipeline& pipe, const Action& a) {
  const Comm& g = pipe.group();
  const int p = g.size(), r = g.rank();
  switch (a.op) {
    case Op::forward: return "forward " + std::to_string(a.micro) + " from layer " + std::to_string(pipe.stage(a.chunk).first());
    case Op::backward: return "backward " + std::to_string(a.micro) + " from layer " + std::to_string(pipe.stage(a.chunk).first());
    case Op::send_forward: return "send to " + std::to_string(g.world_rank((r + 1) % p)) + " tag " + std::to_string(pipe.message_tag(a));
    case Op::send_backward: return "send to " + std::to_string(g.world_rank((r + p - 1) % p)) + " tag " + std::to_string(pipe.message_tag(a));
    case Op::recv_forward: return "recv from " + std::to_string(g.world_rank((r + p - 1) % p)) + " tag " + std::to_string(pipe.message_tag(a));
    default: return "recv from " + std::to_string(g.world_rank((r + 1) % p)) + " tag " + std::to_string(pipe.message_tag(a));
  }
}

// This rank's op log of one run, as log_entry() writes each action: the stages' forward and
// backward marks, and every send and receive. A blocking send is written "blocking send to ...",
// so that it never matches: small messages go out eagerly and hide it, large ones deadlock 1F1B.
inline std::vector<std::string> logged_actions(const dtlab::RankLog& log) {
  std::vector<std::string> got;
  for (const auto& op : log.ops) {
    if (op.lane != 0) continue;
    switch (op.kind) {
      case dtlab::OpKind::compute: {
        int micro = 0, first = 0, last = 0;
        char what[16] = {};
        const std::string label(log.label(op));
        if (std::sscanf(label.c_str(), "%15s %d, layers [%d, %d)", what, &micro, &first, &last) == 4)
          got.push_back(std::string(what) + " " + std::to_string(micro) + " from layer " + std::to_string(first));
        break;
      }
      case dtlab::OpKind::send: got.push_back("blocking send to " + std::to_string(op.peer) + " tag " + std::to_string(op.tag)); break;
      case dtlab::OpKind::isend: got.push_back("send to " + std::to_string(op.peer) + " tag " + std::to_string(op.tag)); break;
      case dtlab::OpKind::recv:
      case dtlab::OpKind::irecv: got.push_back("recv from " + std::to_string(op.peer) + " tag " + std::to_string(op.tag)); break;
      case dtlab::OpKind::sendrecv: got.push_back("sendrecv"); break;
      default: break;
    }
  }
  return got;
}

inline void expect_log_follows_schedule(const Comm& group, Kind kind, int m, int v, int batch = 24) {
  SCOPED_TRACE(testing::Message() << name(kind) << ", m=" << m << ", v=" << v);
  Pipeline pipe(pp_model(), group, v);
  pipe.init(33);
  const Batch b = random_batch(pp_model(), batch, 34);
  const Schedule s = schedule_of(kind, group.size(), m, v);
  std::vector<std::string> expect;
  for (const Action& a : s[std::size_t(group.rank())]) expect.push_back(log_entry(pipe, a));
  auto& log = dtlab::OpLog::instance();
  log.set_enabled(true);
  log.clear();
  pipe.run(s[std::size_t(group.rank())], m, b.x, b.y);
  const std::vector<std::string> got = logged_actions(log.data());
  log.set_enabled(false);
  EXPECT_EQ(got, expect) << "the executor must run the schedule's actions in its order, each send and receive "
                            "with message_tag, to and from the neighbouring ranks, and every send non-blocking (isend)";
}

// Data x pipeline parallelism on world: replicas of a `stages`-stage pipeline, each training on its
// share of every batch, equal to one process training on the whole batch.
inline void expect_data_pipeline_matches(const Comm& world, int stages, int m, Kind kind, int v = 1,
                                         const dtlab::OptimizerConfig& opt = optimizer_config(), int steps = 4) {
  const Grid grid = make_grid(world, stages);
  const int replicas = world.size() / stages, replica = world.rank() / stages;
  SCOPED_TRACE(testing::Message() << replicas << " replicas x " << stages << " stages, " << name(kind) << ", m=" << m);
  dtlab::Mlp whole(pp_model());
  whole.init(51);
  std::vector<Batch> batches;
  for (int k = 0; k < steps; ++k) batches.push_back(random_batch(pp_model(), 24, 52 + std::uint64_t(k)));
  dtlab::Mlp one = whole;
  auto one_opt = dtlab::make_optimizer(opt, one.num_params());
  for (const Batch& b : batches) {
    one.forward_backward(b.x, b.y);
    one_opt->step(one.params(), one.grads(), kTrainLr);
  }
  Pipeline pipe(pp_model(), grid.pipeline, v, opt);
  pipe.init(51);
  const Schedule s = schedule_of(kind, stages, m, v);
  for (const Batch& b : batches) {
    const std::size_t share = std::size_t(b.size() / replicas);
    const auto x = std::span<const float>(b.x).subspan(std::size_t(replica) * share * std::size_t(pp_model().inputs),
                                                       share * std::size_t(pp_model().inputs));
    const auto y = std::span<const std::int32_t>(b.y).subspan(std::size_t(replica) * share, share);
    pipe.run(s[std::size_t(grid.pipeline.rank())], m, x, y);
    pipe.step(kTrainLr, &grid.data);
  }
  dtlab::Mlp got(pp_model());
  pipe.gather(got);
  EXPECT_LE(relative_difference(got.params(), one.params()), kTrainTolerance)
      << "after " << steps << " steps; every stage's gradients averaged over its " << replicas << " replicas";
}

}  // namespace lab03::test
