// Vectors whose data starts on a 64-byte boundary.
//
// Why it matters beyond speed: Eigen's vectorised reductions (sums over a row or column) handle an
// unaligned start with a scalar head, so *the order of additions depends on the address*. Two runs
// whose buffers land at different addresses then differ in the last bits. With every buffer
// 64-byte aligned, results depend only on the inputs, which bitwise reproducibility (same seed,
// same bits; resume equals an uninterrupted run) requires.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace dtlab {

template <class T, std::size_t Align = 64>
struct AlignedAllocator {
  using value_type = T;
  template <class U>
  struct rebind {
    using other = AlignedAllocator<U, Align>;
  };
  AlignedAllocator() = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U, Align>&) noexcept {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(Align)));
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t(Align)); }
  template <class U>
  bool operator==(const AlignedAllocator<U, Align>&) const noexcept {
    return true;
  }
};

template <class T>
using AlignedVector = std::vector<T, AlignedAllocator<T>>;

}  // namespace dtlab
