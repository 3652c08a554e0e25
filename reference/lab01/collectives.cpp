// Lab 01 reference solution: collectives on Comm's point-to-point operations.
//
// Each algorithm follows the classic presentation (Thakur, Rabenseifner and Gropp, "Optimization
// of Collective Communication Operations in MPICH", 2005); the handout draws them. Every rank gets
// bitwise the same result: each element is summed in one order, on one rank or on two ranks that
// add the same two values (a + b == b + a), and then copied.
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "dtlab/allreduce_rules.hpp"
#include "dtlab/error.hpp"
#include "lab01/collectives.hpp"

namespace lab01 {

namespace {

// One tag per algorithm, so that messages of different collectives can never be confused.
enum Tag : int { kBroadcast = 11, kReduce, kNaive, kFold, kDoubling, kRing, kHalving };

int largest_power_of_two_at_most(int p) {
  int q = 1;
  while (q * 2 <= p) q *= 2;
  return q;
}

template <class T>
std::span<T> part(std::span<T> data, const dtlab::Range& r) {
  return data.subspan(std::size_t(r.first), std::size_t(r.count));
}

// For p not a power of two (recursive doubling and Rabenseifner): of the first 2*rem ranks, each
// even one hands its data to the odd one above it and sits out; the remaining q = p - rem ranks
// run the power-of-two algorithm as "new ranks" 0..q-1.
struct Fold {
  int q, rem, newrank;
  Fold(int rank, int p) : q(largest_power_of_two_at_most(p)), rem(p - q) {
    newrank = rank < 2 * rem ? (rank % 2 ? rank / 2 : -1) : rank - rem;
  }
  int real(int nr) const { return nr < rem ? 2 * nr + 1 : nr + rem; }
};

// sendrecv out to `to` and add what comes from `from` into in, in segments of about 256 KiB when
// the blocks are large: a segment is added while it is still in cache, instead of the whole block
// going to memory and coming back. nseg must be the same on both sides of every exchange; callers
// derive it from sizes every rank knows.
template <class T>
void exchange_add(const Comm& comm, std::span<const T> out, int to, std::span<T> in, int from, int tag,
                  std::size_t nseg) {
  auto tmp = comm.scratch<T>(in.size());
  for (std::size_t k = 0; k < nseg; ++k) {
    const auto o = out.subspan(out.size() * k / nseg, out.size() * (k + 1) / nseg - out.size() * k / nseg);
    const std::size_t lo = in.size() * k / nseg, hi = in.size() * (k + 1) / nseg;
    comm.sendrecv(o, to, tmp.subspan(lo, hi - lo), from, tag);
    accumulate(in.subspan(lo, hi - lo), std::span<const T>(tmp.subspan(lo, hi - lo)));
  }
}

template <class T>
std::size_t segments(std::size_t elements) {
  constexpr std::size_t kSegmentBytes = 256 * 1024;  // measured best of 64 KiB .. 1 MiB here
  return std::max<std::size_t>(1, (elements * sizeof(T) + kSegmentBytes - 1) / kSegmentBytes);
}

template <class T>
void fold_in(const Comm& comm, std::span<T> data, const Fold& f) {
  const int rank = comm.rank();
  if (rank >= 2 * f.rem) return;
  if (rank % 2 == 0) {
    comm.send(std::span<const T>(data), rank + 1, kFold);
  } else {
    auto tmp = comm.scratch<T>(data.size());
    comm.recv(tmp, rank - 1, kFold);
    accumulate(data, std::span<const T>(tmp));
  }
}

template <class T>
void fold_out(const Comm& comm, std::span<T> data, const Fold& f) {
  const int rank = comm.rank();
  if (rank >= 2 * f.rem) return;
  if (rank % 2 == 0) comm.recv(data, rank + 1, kFold);
  else comm.send(std::span<const T>(data), rank - 1, kFold);
}

}  // namespace

template <class T>
void broadcast(const Comm& comm, std::span<T> data, int root) {
  const int p = comm.size(), rel = (comm.rank() - root + p) % p;
  int mask = 1;
  for (; mask < p; mask <<= 1)
    if (rel & mask) {  // my parent is the rank mask below me
      comm.recv(data, (rel - mask + root) % p, kBroadcast);
      break;
    }
  for (mask >>= 1; mask > 0; mask >>= 1)  // then I feed the subtrees below my lowest set bit
    if (rel + mask < p) comm.send(std::span<const T>(data), (rel + mask + root) % p, kBroadcast);
}

template <class T>
void reduce(const Comm& comm, std::span<T> data, int root) {
  const int p = comm.size(), rel = (comm.rank() - root + p) % p;
  auto tmp = comm.scratch<T>(data.size());
  for (int mask = 1; mask < p; mask <<= 1) {
    if (rel & mask) {  // hand my partial sum to my parent and stop
      comm.send(std::span<const T>(data), (rel - mask + root) % p, kReduce);
      return;
    }
    if (rel + mask < p) {
      comm.recv(tmp, (rel + mask + root) % p, kReduce);
      accumulate(data, std::span<const T>(tmp));
    }
  }
}

template <class T>
void allreduce_naive(const Comm& comm, std::span<T> data) {
  const int p = comm.size();
  if (comm.rank() == 0) {
    auto tmp = comm.scratch<T>(data.size());
    for (int r = 1; r < p; ++r) {
      comm.recv(tmp, r, kNaive);
      accumulate(data, std::span<const T>(tmp));
    }
    for (int r = 1; r < p; ++r) comm.send(std::span<const T>(data), r, kNaive);
  } else {
    comm.send(std::span<const T>(data), 0, kNaive);
    comm.recv(data, 0, kNaive);
  }
}

template <class T>
void allreduce_recursive_doubling(const Comm& comm, std::span<T> data) {
  const Fold f(comm.rank(), comm.size());
  fold_in(comm, data, f);
  if (f.newrank >= 0) {
    auto tmp = comm.scratch<T>(data.size());
    for (int mask = 1; mask < f.q; mask <<= 1) {
      const int partner = f.real(f.newrank ^ mask);
      comm.sendrecv(std::span<const T>(data), partner, tmp, partner, kDoubling);
      accumulate(data, std::span<const T>(tmp));
    }
  }
  fold_out(comm, data, f);
}

template <class T>
void reduce_scatter(const Comm& comm, std::span<T> data) {
  const int p = comm.size(), r = comm.rank();
  const int right = (r + 1) % p, left = (r + p - 1) % p;
  const std::size_t nseg = segments<T>(std::size_t(block(data.size(), p, 0).count));
  // Step s: pass block r-s-1 on, receive block r-s-2 and add mine to it. After p-1 steps the
  // block that arrives last, block r, holds everyone's contribution.
  for (int s = 0; s < p - 1; ++s) {
    const auto out = part(data, block(data.size(), p, (r - s - 1 + 2 * p) % p));
    const auto in = part(data, block(data.size(), p, (r - s - 2 + 2 * p) % p));
    exchange_add(comm, std::span<const T>(out), right, in, left, kRing, nseg);
  }
}

template <class T>
void allgather(const Comm& comm, std::span<T> data) {
  const int p = comm.size(), r = comm.rank();
  const int right = (r + 1) % p, left = (r + p - 1) % p;
  // Step s: pass on the block received last (my own at first), receive the next straight into
  // its place.
  for (int s = 0; s < p - 1; ++s) {
    const auto out = part(data, block(data.size(), p, (r - s + p) % p));
    const auto in = part(data, block(data.size(), p, (r - s - 1 + p) % p));
    comm.sendrecv(std::span<const T>(out), right, in, left, kRing);
  }
}

template <class T>
void allreduce_ring(const Comm& comm, std::span<T> data) {
  reduce_scatter(comm, data);
  allgather(comm, data);
}

template <class T>
void allreduce_rabenseifner(const Comm& comm, std::span<T> data) {
  const Fold f(comm.rank(), comm.size());
  fold_in(comm, data, f);
  if (f.newrank >= 0 && f.q > 1) {
    // The q blocks of the power-of-two part; a range of them is [lo, hi).
    std::vector<std::size_t> first(f.q + 1);
    for (int i = 0; i < f.q; ++i) first[i] = std::size_t(block(data.size(), f.q, i).first);
    first[f.q] = data.size();
    auto span_of = [&](std::span<T> d, int lo, int hi) { return d.subspan(first[lo], first[hi] - first[lo]); };
    // Reduce-scatter by recursive halving: at distance mask, keep the half of my current range
    // that holds my block, send the other half to my partner and add its copy of mine.
    int lo = 0, hi = f.q;
    for (int mask = f.q / 2; mask > 0; mask /= 2) {
      const int partner = f.real(f.newrank ^ mask);
      const int mid = lo + (hi - lo) / 2;
      const bool low = (f.newrank & mask) == 0;
      const int keep_lo = low ? lo : mid, keep_hi = low ? mid : hi;
      const int give_lo = low ? mid : lo, give_hi = low ? hi : mid;
      // Both partners know the sizes of both halves: segment by the larger.
      const std::size_t larger = std::max(first[keep_hi] - first[keep_lo], first[give_hi] - first[give_lo]);
      exchange_add(comm, std::span<const T>(span_of(data, give_lo, give_hi)), partner,
                   span_of(data, keep_lo, keep_hi), partner, kHalving, segments<T>(larger));
      lo = keep_lo;
      hi = keep_hi;
    }
    // Allgather by recursive doubling, retracing the steps: swap what each side has reduced.
    for (int mask = 1; mask < f.q; mask *= 2) {
      const int partner = f.real(f.newrank ^ mask);
      const bool low = (f.newrank & mask) == 0;
      const int width = hi - lo;
      const int other_lo = low ? hi : lo - width, other_hi = low ? hi + width : lo;
      comm.sendrecv(std::span<const T>(span_of(data, lo, hi)), partner,
                    span_of(data, other_lo, other_hi), partner, kHalving);
      lo = std::min(lo, other_lo);
      hi = std::max(hi, other_hi);
    }
  }
  fold_out(comm, data, f);
}

// The professional answer first: the switch points measured on this machine, with this MPI library
// (`dtlab bench allreduce --tune` writes them; DTLAB_ALLREDUCE_RULES names the file). A table sees
// what no formula does, such as the size where Open MPI's shared-memory transport stops sending
// eagerly (4 KiB by default), which makes a 4 KiB exchange slower than two 2 KiB ones.
//
// Without a table, fixed switch points, measured with `dtlab bench allreduce` on 2 to 4 ranks
// (docs/results/lab01.md): recursive doubling has the fewest rounds and wins while latency
// dominates, up to about 32 KiB; past that the bandwidth-optimal algorithms win, Rabenseifner
// (2 log p rounds) while the ring's blocks are small, the ring (2(p-1) rounds, no folding for odd
// p) beyond.
Algorithm choose_allreduce(std::size_t bytes, int p) {
  if (const auto* rules = dtlab::AllreduceRules::from_environment())
    if (const auto name = rules->choose(p, bytes)) {
      for (Algorithm a : {Algorithm::naive, Algorithm::recursive_doubling, Algorithm::ring, Algorithm::rabenseifner})
        if (*name == to_string(a)) return a;
      throw dtlab::Error(fmt::format("{}: unknown allreduce algorithm '{}'; expected naive, "
                                     "recursive_doubling, ring or rabenseifner",
                                     std::getenv("DTLAB_ALLREDUCE_RULES"), *name));
    }
  constexpr std::size_t kLatencyBound = 32 * 1024;
  if (p <= 1 || bytes <= kLatencyBound) return Algorithm::recursive_doubling;
  const bool power_of_two = (p & (p - 1)) == 0;
  if (power_of_two && bytes < std::size_t(p) * kLatencyBound) return Algorithm::rabenseifner;
  return Algorithm::ring;
}

template <class T>
void allreduce(const Comm& comm, std::span<T> data) {
  switch (choose_allreduce(data.size_bytes(), comm.size())) {
    case Algorithm::naive: return allreduce_naive(comm, data);
    case Algorithm::recursive_doubling: return allreduce_recursive_doubling(comm, data);
    case Algorithm::ring: return allreduce_ring(comm, data);
    case Algorithm::rabenseifner: return allreduce_rabenseifner(comm, data);
  }
}

}  // namespace lab01
